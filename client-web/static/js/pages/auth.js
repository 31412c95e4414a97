// Signing in and registering: the invite page (staff: password → TOTP →
// recovery codes; clients: passphrase → device name), and the login page
// (password, then a TOTP or recovery code when the server asks).

import { api, failure, retryWhenBusy } from "../api.js";
import { h, field, errorBox, onSubmit, formatTime, roleName, withArticle } from "../dom.js";
import { qrSvg } from "../qr.js";
import * as session from "../session.js";

// The invite token, read from the URL fragment. Kept in memory and, until
// the invitation is redeemed, in this tab's sessionStorage: a reload while
// filling in the form keeps it (the address bar no longer has it), closing
// the tab forgets it, and no other tab or later visit sees it.
const INVITE_KEY = "alcove.invite";
let inviteToken = null;

function captureInviteToken() {
  if (location.pathname !== "/invite") return;
  if (location.hash.length > 1) {
    inviteToken = decodeURIComponent(location.hash.slice(1));
    // Remove the token from the address bar and this history entry.
    history.replaceState(null, "", "/invite");
    try {
      sessionStorage.setItem(INVITE_KEY, inviteToken);
    } catch {
      // Storage refused (private mode): a reload then needs the link again.
    }
  } else {
    try {
      inviteToken = sessionStorage.getItem(INVITE_KEY);
    } catch {
      inviteToken = null;
    }
  }
}

/** The invitation was redeemed (or is no use): forget its token. */
function forgetInviteToken() {
  inviteToken = null;
  try {
    sessionStorage.removeItem(INVITE_KEY);
  } catch {
    // nothing kept
  }
}
// Runs when the module loads, before the first render.
captureInviteToken();

// A practice's sign-in link (`/login#practice=<id>`, shown to its admins):
// remembered, then taken out of the address bar.
function capturePracticeLink() {
  const m = location.pathname === "/login" && /^#practice=([0-9a-f-]{36})$/.exec(location.hash);
  if (m) {
    session.rememberPractice(m[1]);
    history.replaceState(null, "", "/login");
  }
}
capturePracticeLink();

function heading(text, step) {
  return [step ? h("p", { class: "step" }, step) : null, h("h1", {}, text)];
}

function deviceNameHint() {
  return "So you can recognise it later, for example “Work laptop” or “My phone”. Avoid your full name.";
}

/* ---------------------------------------------------------------- login */

export function loginPage(ctx) {
  const notice = session.takeNotice();
  const errors = errorBox();
  const login = field({ label: "Login", name: "login", autocomplete: "username", autocapitalize: "none", spellcheck: "false" });
  const password = field({ label: "Password or passphrase", name: "password", type: "password", autocomplete: "current-password" });
  const knownDevice = session.rememberedDevice();
  const device = field({ label: "Name this device", name: "device_name", hint: deviceNameHint(), autocomplete: "off", maxlength: 64 });
  device.wrap.hidden = !!knownDevice;
  device.input.required = !knownDevice;
  let useDevice = knownDevice;
  // A shared or public computer: a new device each time, nothing kept.
  const sharedId = "shared-computer";
  const shared = h("input", { type: "checkbox", id: sharedId, name: "shared_computer", "aria-describedby": `${sharedId}-hint` });
  const sharedWrap = h(
    "div",
    { class: "check" },
    shared,
    h("label", { for: sharedId }, "This is a shared or public computer"),
    h("p", { class: "hint", id: `${sharedId}-hint` }, "Nothing is kept in this browser: closing or reloading the tab signs you out, and messages from before are not shown here."),
  );
  shared.addEventListener("change", () => {
    const named = shared.checked || !useDevice;
    device.wrap.hidden = !named;
    device.input.required = named;
  });

  const totp = field({
    label: "Code from your authenticator app",
    name: "totp_code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    hint: "The 6-digit code shown in your authenticator app now.",
    maxlength: 10,
  });
  const recovery = field({
    label: "Recovery code",
    name: "recovery_code",
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
    hint: "One of the recovery codes you saved when you set up your account. Each works once.",
  });
  let mode = "none"; // "totp" | "recovery" once the server asks for a second factor
  const switchMode = h("button", { type: "button", class: "link-button", id: "use-recovery" }, "Use a recovery code instead");
  const second = h("div", { class: "second-factor", hidden: true }, totp.wrap, recovery.wrap, switchMode);
  totp.input.required = false;
  recovery.input.required = false;
  recovery.wrap.hidden = true;

  function setMode(next) {
    mode = next;
    second.hidden = false;
    totp.wrap.hidden = next !== "totp";
    recovery.wrap.hidden = next !== "recovery";
    totp.input.required = next === "totp";
    recovery.input.required = next === "recovery";
    switchMode.textContent = next === "totp" ? "Use a recovery code instead" : "Use my authenticator app instead";
    (next === "totp" ? totp.input : recovery.input).focus();
  }
  switchMode.addEventListener("click", () => setMode(mode === "totp" ? "recovery" : "totp"));

  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card", novalidate: false, "aria-labelledby": "login-h" }, errors.box, login.wrap, password.wrap, device.wrap, sharedWrap, second, submit);

  onSubmit(form, errors, async () => {
    const body = { login: login.input.value.trim(), password: password.input.value };
    const practice = session.rememberedPractice();
    if (practice) body.practice_id = practice;
    if (shared.checked) {
      body.shared_computer = true;
      body.device_name = device.input.value.trim();
    } else if (useDevice) body.device_id = useDevice;
    else body.device_name = device.input.value.trim();
    if (mode === "totp") body.totp_code = totp.input.value.replace(/\s+/g, "");
    if (mode === "recovery") body.recovery_code = recovery.input.value.trim();
    let answer;
    try {
      answer = await retryWhenBusy(() => api("POST", "/auth/login", body, { auth: false }), (seconds) => ctx.announce(`The server is busy; trying again in ${seconds} second${seconds === 1 ? "" : "s"}…`));
    } catch (e) {
      if (failure(e).code === "mfa_required") {
        setMode("totp");
        ctx.announce("Enter the code from your authenticator app.");
        return;
      }
      if ((failure(e).code === "not_found" || failure(e).code === "device_revoked") && useDevice) {
        // The remembered device is gone (revoked, or another person's).
        session.rememberDevice(null);
        useDevice = null;
        device.wrap.hidden = false;
        device.input.required = true;
        device.input.focus();
        throw new Error("This browser's saved device can no longer be used. Name this device and sign in again.");
      }
      if (failure(e).code === "practice_required") {
        throw new Error("This server hosts several practices. Open your practice's sign-in link (ask your practice for it) and sign in there.");
      }
      if (failure(e).code === "invalid_mfa_code") {
        (mode === "recovery" ? recovery.input : totp.input).select();
      }
      throw e;
    }
    password.input.value = "";
    if (answer.status === "mfa_enrollment_required") {
      // Staff who have not finished setting up their authenticator yet.
      // On a shared computer the step signs in as one too.
      const choice = body.shared_computer ? { device_name: body.device_name, shared_computer: true } : useDevice ? { device_id: useDevice } : { device_name: body.device_name };
      ctx.show(enrolView(ctx, answer, choice), "Set up two-step sign-in");
      return;
    }
    await session.signedIn(answer);
    ctx.navigate("/");
  });

  return h(
    "section",
    { class: "narrow" },
    h("h1", { id: "login-h" }, "Sign in"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    form,
    h("p", { class: "muted" }, "New to Alcove? Open the invitation link you were sent."),
  );
}

/* --------------------------------------------------------------- invite */

export async function invitePage(ctx) {
  captureInviteToken();
  const token = inviteToken;
  if (!token) {
    return h(
      "section",
      { class: "narrow" },
      h("h1", {}, "Accept invitation"),
      h("p", {}, "To join, open the complete invitation link you were sent. For your security the link is removed from the address bar once it has been read; this tab remembers it until you have joined."),
      h("p", {}, h("a", { href: "/login", "data-link": true }, "Sign in instead")),
    );
  }
  let info;
  try {
    info = await api("POST", "/invites/inspect", { token }, { auth: false });
  } catch (e) {
    if (failure(e).status === 404 || failure(e).status === 409 || failure(e).status === 410) forgetInviteToken();
    const message =
      failure(e).code === "invite_not_found"
        ? "This invitation link is not valid. Check that you opened the whole link, or ask for a new invitation."
        : failure(e).message;
    return h(
      "section",
      { class: "narrow" },
      h("h1", {}, "Accept invitation"),
      h("p", { class: "form-error", role: "alert" }, message),
      h("p", {}, h("a", { href: "/login", "data-link": true }, "Sign in instead")),
    );
  }
  return info.reset_for ? resetStep(ctx, token, info) : registrationStep(ctx, token, info);
}

/**
 * A sign-in reset link (a forgotten passphrase; the practice made it): a
 * new password or passphrase for the existing account, its authenticator's
 * code when it has one, and a name for this device. Every other session of
 * the account is signed out.
 */
function resetStep(ctx, token, info) {
  const staff = info.role !== "client";
  const secretWord = staff ? "password" : "passphrase";
  const errors = errorBox();
  const secret = field({
    label: `New ${secretWord}`,
    name: "password",
    type: "password",
    autocomplete: "new-password",
    minlength: 12,
    hint: "At least 12 characters. A few unrelated words work well.",
  });
  const confirm = field({ label: `Repeat the new ${secretWord}`, name: "password_confirm", type: "password", autocomplete: "new-password", minlength: 12 });
  const code = info.needs_code
    ? field({
        label: "Code from your authenticator app",
        name: "code",
        autocomplete: "one-time-code",
        inputmode: "text",
        hint: "The 6 digits it shows now, or one of your recovery codes.",
        maxlength: 32,
      })
    : null;
  const device = field({ label: "Device name", name: "device_name", hint: deviceNameHint(), maxlength: 64 });
  const form = h(
    "form",
    { class: "card" },
    errors.box,
    secret.wrap,
    confirm.wrap,
    code ? code.wrap : null,
    device.wrap,
    h("button", { type: "submit", class: "primary" }, `Set the new ${secretWord}`),
  );
  onSubmit(form, errors, async () => {
    if (secret.input.value.length < 12) {
      secret.input.focus();
      throw new Error(`The ${secretWord} must be at least 12 characters long.`);
    }
    if (secret.input.value !== confirm.input.value) {
      confirm.input.focus();
      throw new Error(`The two ${secretWord}s do not match.`);
    }
    const body = { token, password: secret.input.value, device_name: device.input.value.trim() };
    if (code) {
      const given = code.input.value.trim();
      if (/^\d{6}$/.test(given.replace(/\s/g, ""))) body.totp_code = given.replace(/\s/g, "");
      else body.recovery_code = given;
    }
    const answer = await retryWhenBusy(
      () => api("POST", "/invites/reset", body, { auth: false }),
      (seconds) => ctx.announce(`The server is busy; trying again in ${seconds} second${seconds === 1 ? "" : "s"}…`),
    );
    forgetInviteToken();
    secret.input.value = "";
    confirm.input.value = "";
    if (answer.status === "mfa_enrollment_required") {
      // Staff who had not finished setting up their authenticator.
      ctx.show(enrolView(ctx, answer, { device_name: body.device_name }), "Set up two-step sign-in");
      return;
    }
    await session.signedIn(answer);
    ctx.announce(`Your new ${secretWord} is set, and you are signed in. Every other device of yours was signed out.`);
    ctx.navigate("/");
  });
  return h(
    "section",
    { class: "narrow" },
    h("h1", {}, `Choose a new ${secretWord}`),
    h(
      "p",
      { class: "lead" },
      `${info.practice_name} made this link so that ${info.reset_for} can sign in again. It works once, until ${formatTime(info.expires_at)}, and signs out every other device of this account.`,
    ),
    h("p", { class: "muted" }, "Earlier messages stay on the devices that received them; this browser starts without them."),
    form,
  );
}

function registrationStep(ctx, token, info, previous) {
  const staff = info.requires_mfa;
  const secretWord = staff ? "password" : "passphrase";
  const Secret = staff ? "Password" : "Passphrase";
  const errors = errorBox();
  const name = field({ label: "Your name", name: "display_name", autocomplete: "name", hint: "Shown to people in your practice.", maxlength: 100 });
  const login = field({
    label: "Login",
    name: "login",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    hint: "What you will type to sign in. An email address works well.",
  });
  const secret = field({
    label: `Choose a ${secretWord}`,
    name: "password",
    type: "password",
    autocomplete: "new-password",
    minlength: 12,
    hint: "At least 12 characters. A few unrelated words work well.",
  });
  const confirm = field({ label: `Repeat the ${secretWord}`, name: "password_confirm", type: "password", autocomplete: "new-password", minlength: 12 });
  if (previous) {
    name.input.value = previous.display_name;
    login.input.value = previous.login;
  }
  const submit = h("button", { type: "submit", class: "primary" }, staff ? "Continue" : "Continue");
  const form = h("form", { class: "card" }, errors.box, name.wrap, login.wrap, secret.wrap, confirm.wrap, submit);
  if (previous && previous.error) errors.show(previous.error);

  onSubmit(form, errors, async () => {
    const values = {
      display_name: name.input.value.trim(),
      login: login.input.value.trim(),
      password: secret.input.value,
    };
    if (values.password.length < 12) {
      secret.input.focus();
      throw new Error(`The ${secretWord} must be at least 12 characters long.`);
    }
    if (values.password !== confirm.input.value) {
      confirm.input.focus();
      throw new Error(`The two ${secretWord}s do not match.`);
    }
    if (!staff) {
      ctx.show(deviceStep(ctx, token, info, values), "Name this device");
      return;
    }
    const answer = await retryWhenBusy(() => api("POST", "/invites/accept", { token, ...values }, { auth: false }), (seconds) => ctx.announce(`The server is busy; trying again in ${seconds} second${seconds === 1 ? "" : "s"}…`));
    forgetInviteToken();
    secret.input.value = "";
    confirm.input.value = "";
    ctx.show(enrolView(ctx, answer, null), "Set up two-step sign-in");
  });

  return h(
    "section",
    { class: "narrow" },
    heading("Welcome to Alcove", staff ? "Step 1 of 3" : "Step 1 of 2"),
    h(
      "p",
      { class: "lead" },
      `You have been invited to join ${info.practice_name} as ${withArticle(roleName(info.role))}. `,
      `This invitation expires ${formatTime(info.expires_at)}.`,
    ),
    form,
  );
}

function deviceStep(ctx, token, info, values) {
  const errors = errorBox();
  const device = field({ label: "Device name", name: "device_name", hint: deviceNameHint(), maxlength: 64 });
  const back = h("button", { type: "button", class: "secondary" }, "Back");
  back.addEventListener("click", () => ctx.show(registrationStep(ctx, token, info, values), "Accept invitation"));
  const form = h("form", { class: "card" }, errors.box, device.wrap, h("div", { class: "actions" }, back, h("button", { type: "submit", class: "primary" }, "Finish")));
  onSubmit(form, errors, async () => {
    let answer;
    try {
      answer = await retryWhenBusy(
        () => api("POST", "/invites/accept", { token, ...values, device_name: device.input.value.trim() }, { auth: false }),
        (seconds) => ctx.announce(`The server is busy; trying again in ${seconds} second${seconds === 1 ? "" : "s"}…`),
      );
    } catch (e) {
      const { code = "", message = "" } = failure(e);
      if (["weak_password", "login_taken", "invalid_login", "invalid_name"].includes(code) && !/device/i.test(message)) {
        ctx.show(registrationStep(ctx, token, info, { ...values, error: message }), "Accept invitation");
        return;
      }
      throw e;
    }
    forgetInviteToken();
    values.password = "";
    await session.signedIn(answer);
    ctx.announce("Welcome. You are signed in.");
    ctx.navigate("/");
  });
  return h(
    "section",
    { class: "narrow" },
    heading("Name this device", "Step 2 of 2"),
    h("p", { class: "lead" }, "Alcove keeps your messages encrypted on each device you use. Give this one a name."),
    form,
  );
}

/* ------------------------------------------------------- TOTP enrolment */

export function groupSecret(secret) {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

/**
 * TOTP enrolment: QR code, the secret as text, a device name (unless this
 * browser's device is known) and the first code.
 */
function enrolView(ctx, enrolment, deviceChoice) {
  const errors = errorBox();
  const device = field({ label: "Name this device", name: "device_name", hint: deviceNameHint(), maxlength: 64 });
  const code = field({
    label: "Code from your authenticator app",
    name: "totp_code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    hint: "Enter the 6-digit code your app shows for Alcove.",
    maxlength: 10,
  });
  const needDevice = !deviceChoice;
  if (!needDevice) device.wrap.hidden = true;
  device.input.required = needDevice;
  const form = h("form", { class: "card" }, errors.box, device.wrap, code.wrap, h("button", { type: "submit", class: "primary" }, "Confirm and sign in"));
  onSubmit(form, errors, async () => {
    const body = {
      enrollment_token: enrolment.enrollment_token,
      totp_code: code.input.value.replace(/\s+/g, ""),
      ...(deviceChoice || { device_name: device.input.value.trim() }),
    };
    let answer;
    try {
      answer = await api("POST", "/auth/mfa/enroll", body, { auth: false });
    } catch (e) {
      if (failure(e).code === "enrollment_not_found") throw new Error("This setup step has expired. Sign in again to restart it.");
      code.input.select();
      throw e;
    }
    await session.signedIn(answer);
    ctx.show(recoveryView(ctx, answer.recovery_codes || []), "Save your recovery codes");
  });

  const secretText = h("code", { class: "secret", id: "totp-secret" }, groupSecret(enrolment.totp_secret));
  return h(
    "section",
    { class: "narrow" },
    heading("Set up two-step sign-in", "Step 2 of 3"),
    h("p", { class: "lead" }, "Staff accounts need a code from an authenticator app (such as FreeOTP, Aegis, Google Authenticator or 1Password) each time they sign in."),
    h(
      "div",
      { class: "card enrol" },
      h("div", { class: "qr-wrap" }, qrSvg(enrolment.otpauth_uri, "QR code to add Alcove to your authenticator app")),
      h(
        "div",
        {},
        h("p", {}, "Scan this code with your authenticator app."),
        h("p", {}, "Can't scan it? Add an account in the app and type this key:"),
        h("p", {}, secretText),
        h("p", { class: "muted" }, "Time-based, 6 digits, every 30 seconds."),
      ),
    ),
    form,
  );
}

/* ------------------------------------------------------- recovery codes */

function recoveryView(ctx, codes) {
  const list = h("ol", { class: "codes", id: "recovery-codes" }, codes.map((c) => h("li", {}, h("code", {}, c))));
  const copy = h("button", { type: "button", class: "secondary" }, "Copy codes");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(codes.join("\n"));
      ctx.announce("Recovery codes copied.");
    } catch (_) {
      ctx.announce("Copying is not available here; write the codes down instead.");
    }
  });
  const saved = h("input", { type: "checkbox", id: "codes-saved", name: "codes_saved", required: true });
  const cont = h("button", { type: "submit", class: "primary", disabled: true }, "Continue to Alcove");
  saved.addEventListener("change", () => (cont.disabled = !saved.checked));
  const errors = errorBox();
  const form = h(
    "form",
    { class: "card" },
    errors.box,
    list,
    h("div", { class: "actions" }, copy),
    h("div", { class: "check" }, saved, h("label", { for: "codes-saved" }, "I saved my recovery codes somewhere safe")),
    cont,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!saved.checked) return;
    codes.length = 0;
    list.replaceChildren();
    ctx.announce("You are signed in.");
    ctx.navigate("/");
  });
  return h(
    "section",
    { class: "narrow" },
    heading("Save your recovery codes", "Step 3 of 3"),
    h("p", { class: "lead" }, "If you lose your phone, each of these codes lets you sign in once instead of an authenticator code. Keep them in a password manager or on paper in a safe place. They are shown only this once."),
    form,
  );
}
