// RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps) with node's crypto, for the
// test to act as the user's authenticator app.
import { createHmac } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 (no padding needed) to bytes. */
export function base32Decode(text) {
  const clean = text.replace(/[\s=-]/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The HOTP value (RFC 4226) for a counter. */
export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, "0");
}

export const currentStep = (nowMs = Date.now()) => Math.floor(nowMs / 1000 / 30);

/**
 * An authenticator for one secret. The server accepts each step once and
 * allows one step of clock drift, so `next()` uses the current step, or the
 * one after it when the current step was already used, waiting (polling the
 * clock, with a deadline) only when both were used.
 */
export function authenticator(secretBase32) {
  const key = base32Decode(secretBase32);
  let lastStep = -1;
  return {
    async next() {
      const deadline = Date.now() + 65_000;
      for (;;) {
        const now = currentStep();
        const step = Math.max(now, lastStep + 1);
        if (step <= now + 1) {
          lastStep = step;
          return hotp(key, step);
        }
        if (Date.now() > deadline) throw new Error("no fresh TOTP step before the deadline");
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
}
