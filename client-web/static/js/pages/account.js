// The account page: change the password (or passphrase); set up an
// authenticator app (a client's first, or staff's new phone); and — for
// people with one — see how many recovery codes are left and make new ones;
// notices while Alcove is closed; the history backup (backup.js).
// Nothing typed here is kept anywhere after the request.

import { api } from "../api.js";
import { h, field, errorBox, onSubmit } from "../dom.js";
import { qrSvg } from "../qr.js";
import { groupSecret } from "./auth.js";
import * as session from "../session.js";
import { suspiciousSignIn } from "./incidents.js";
import { notifyCard } from "../notify.js";
import { historyBackupCard } from "./backup.js";

export async function accountPage(ctx) {
  const me = session.me();
  const staff = me && me.role !== "client";
  const word = staff ? "password" : "passphrase";
  const status = await api("GET", "/me/recovery-codes");
  const recovery = h("div", { id: "recovery-slot" }, recoveryCard(ctx, status));
  const onEnabled = async () => {
    recovery.replaceChildren(recoveryCard(ctx, await api("GET", "/me/recovery-codes")));
  };
  return h(
    "section",
    {},
    h("h1", {}, "Your account"),
    h("p", { class: "lead" }, `Signed in as ${me ? me.display_name : ""} (${me ? me.login : ""}).`),
    passwordCard(ctx, word),
    authenticatorCard(ctx, word, status.mfa_enabled, onEnabled),
    recovery,
    notifyCard(ctx),
    historyBackupCard(ctx),
    staff ? strangeSignInCard(ctx, me.user_id) : null,
  );
}

/** Staff who see a sign-in they do not recognize report it from here. */
function strangeSignInCard(ctx, userId) {
  return h(
    "section",
    { class: "card", id: "suspicious-sign-in", "aria-labelledby": "suspicious-h" },
    h("h2", { id: "suspicious-h" }, "A sign-in you do not recognize"),
    h("p", {}, "If your password or authenticator may be known to someone else, change your password above and report it: the privacy officer sees which clients' records your account reached."),
    suspiciousSignIn(ctx, userId, "your account"),
  );
}

/**
 * Set up an authenticator app: the current password, then the new secret
 * (QR code and key) and its first code. Until confirmed, the app in use
 * (if any) keeps working.
 */
function authenticatorCard(ctx, word, enabled, onEnabled) {
  const card = h("div", { class: "card", id: "authenticator-card" });
  const start = () => {
    const errors = errorBox();
    const current = field({ label: `Current ${word}, to confirm it is you`, name: "current_password_mfa", type: "password", autocomplete: "current-password" });
    const form = h(
      "form",
      { "aria-labelledby": "authenticator-heading" },
      h("h2", { id: "authenticator-heading" }, "Authenticator app"),
      h(
        "p",
        { class: "muted" },
        enabled
          ? "Sign-ins ask for a code from your authenticator app. New phone? Set it up here: the old one stops working once the new one is confirmed."
          : "Two-step sign-in is off. Turn it on and each sign-in also asks for a code from an authenticator app on your phone.",
      ),
      errors.box,
      current.wrap,
      h("button", { type: "submit", class: "secondary" }, enabled ? "Set up a new phone" : "Turn on two-step sign-in"),
    );
    onSubmit(form, errors, async () => {
      const enrolment = await api("POST", "/me/authenticator", { current_password: current.input.value });
      current.input.value = "";
      confirmStep(enrolment);
    });
    card.replaceChildren(form);
  };
  const confirmStep = (enrolment) => {
    const errors = errorBox();
    const code = field({ label: "Code from your authenticator app", name: "totp_code_new", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 10, hint: "The 6-digit code the app shows for Alcove now." });
    const form = h(
      "form",
      { "aria-labelledby": "authenticator-heading" },
      h("h2", { id: "authenticator-heading" }, "Authenticator app"),
      h("div", { class: "enrol" },
        h("div", { class: "qr-wrap" }, qrSvg(enrolment.otpauth_uri, "QR code to add Alcove to your authenticator app")),
        h("div", {},
          h("p", {}, "Scan this code with the authenticator app, or add an account and type this key:"),
          h("p", {}, h("code", { class: "secret", id: "new-totp-secret" }, groupSecret(enrolment.totp_secret))),
        ),
      ),
      errors.box,
      code.wrap,
      h("button", { type: "submit", class: "primary" }, "Confirm"),
    );
    onSubmit(form, errors, async () => {
      let answer;
      try {
        answer = await api("POST", "/me/authenticator/confirm", { enrollment_token: enrolment.enrollment_token, totp_code: code.input.value.replace(/\s+/g, "") });
      } catch (e) {
        if (/** @type {import("../api.js").ApiError} */ (e).code === "enrollment_not_found") {
          start();
          throw new Error("This setup expired. Start again.");
        }
        code.input.select();
        throw e;
      }
      enabled = true;
      card.replaceChildren(
        h("h2", { id: "authenticator-heading" }, "Authenticator app"),
        h("p", { class: "notice", role: "status" }, "Two-step sign-in is on with this app. Save these recovery codes now: each signs you in once if you lose the phone, and they are shown only this once."),
        h("ol", { class: "codes", id: "authenticator-recovery-codes" }, answer.recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
      );
      ctx.announce("Two-step sign-in is on.");
      await onEnabled();
    });
    card.replaceChildren(form);
    code.input.focus();
  };
  start();
  return card;
}

function passwordCard(ctx, word) {
  const errors = errorBox();
  const current = field({ label: `Current ${word}`, name: "current_password", type: "password", autocomplete: "current-password" });
  const next = field({
    label: `New ${word}`,
    name: "new_password",
    type: "password",
    autocomplete: "new-password",
    minlength: 12,
    hint: "At least 12 characters. A few unrelated words work well.",
  });
  const again = field({ label: `Repeat the new ${word}`, name: "new_password_confirm", type: "password", autocomplete: "new-password", minlength: 12 });
  const form = h(
    "form",
    { class: "card", id: "password-form", "aria-labelledby": "password-heading" },
    h("h2", { id: "password-heading" }, `Change your ${word}`),
    h("p", { class: "muted" }, `Your other devices and browsers are signed out when it changes; this one stays signed in. Your messages stay where they are.`),
    errors.box,
    current.wrap,
    next.wrap,
    again.wrap,
    h("button", { type: "submit", class: "primary" }, `Change ${word}`),
  );
  onSubmit(form, errors, async () => {
    if (next.input.value !== again.input.value) throw new Error(`The two new ${word}s are not the same.`);
    const answer = await api("POST", "/me/password", {
      current_password: current.input.value,
      new_password: next.input.value,
    });
    for (const f of [current, next, again]) f.input.value = "";
    const others = answer.sessions_ended;
    ctx.announce(
      others === 0
        ? `Your ${word} was changed.`
        : `Your ${word} was changed. ${others === 1 ? "One other session was" : `${others} other sessions were`} signed out.`,
    );
  });
  return form;
}

function recoveryCard(ctx, status) {
  if (!status.mfa_enabled) {
    return h(
      "div",
      { class: "card", id: "recovery-card" },
      h("h2", {}, "Recovery codes"),
      h("p", { class: "muted" }, "Recovery codes come with an authenticator app, which this account does not use."),
    );
  }
  const errors = errorBox();
  const left = h("p", { id: "codes-left" }, leftText(status.left));
  const code = field({ label: "Code from your authenticator app", name: "totp_code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6 });
  const shown = h("div", { id: "new-codes" });
  const form = h(
    "form",
    { class: "card", id: "recovery-form", "aria-labelledby": "recovery-heading" },
    h("h2", { id: "recovery-heading" }, "Recovery codes"),
    left,
    h("p", { class: "muted" }, "Each recovery code signs you in once instead of the app's code. New codes replace all the earlier ones, used or not."),
    errors.box,
    code.wrap,
    h("button", { type: "submit", class: "secondary" }, "Make new recovery codes"),
    shown,
  );
  onSubmit(form, errors, async () => {
    const answer = await api("POST", "/me/recovery-codes", { totp_code: code.input.value.trim() });
    code.input.value = "";
    left.textContent = leftText(answer.recovery_codes.length);
    shown.replaceChildren(
      h("p", { class: "notice", role: "status" }, "Your new recovery codes. Save them now: they are shown only this once, and the earlier codes no longer work."),
      h("ol", { class: "codes", id: "recovery-codes" }, answer.recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
    );
    ctx.announce("New recovery codes were made.");
  });
  return form;
}

function leftText(n) {
  if (n === 0) return "You have no recovery codes left. Make new ones now, so a lost phone does not lock you out.";
  return `You have ${n} unused recovery ${n === 1 ? "code" : "codes"}.${n <= 3 ? " Make new ones soon." : ""}`;
}
