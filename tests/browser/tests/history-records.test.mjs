// What a new device takes from a handover (history.js), checked without a
// browser: the engine's own recordApplication with the envelope already
// decoded. A lying member device can hand over records, but not ones
// written by a third person, placed after its own handover, or of a kind
// that changes state (a receipt); what it hands over is marked as its
// copy; each message is taken once; what the person had read stays read;
// and a handover for another device only notes that device as served.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { conv, recordApplication } from "../../../client-web/static/js/messaging/history.js";

const CLIENT = "user-client";
const STAFF = "user-staff";
const CONV = "conv-1";

/** A new device's engine: joined at log position 45, waiting for its history. */
function engine() {
  const s = {
    me: { user_id: CLIENT },
    deviceId: "device-new",
    summaries: [{ id: CONV, client_user_id: CLIENT, staff_user_id: STAFF, closed: false }],
    history: { v: 1, convs: {} },
    // The envelope arrives decoded: the wasm module's JSON form.
    w: { envelopeDecode: (plaintext) => plaintext },
  };
  Object.assign(conv(s, CONV), { joined: true, awaitingHistory: true, joinedSeq: 45 });
  return s;
}

const text = (id, seq, sender, body, status = "") => ({
  seq,
  sender_user_id: sender,
  status,
  envelope: { client_message_id: id.padEnd(32, "0"), sent_at_ms: 1_000 + seq, content: { type: "text", text: body } },
});

function handover(s, seq, fromUser, forDevice, records, fromDevice = `${fromUser}-laptop`) {
  const c = conv(s, CONV);
  const env = { client_message_id: "f".repeat(32), sent_at_ms: 9_000, content: { type: "history", for_device: forDevice, records } };
  recordApplication(s, CONV, c, seq, { plaintext: JSON.stringify(env), sender: { userId: fromUser, deviceId: fromDevice } });
  return c;
}

describe("records a new device takes from a handover", () => {
  it("keeps the two people's messages from before the handover, once each, in order, as the handing device's copy", () => {
    const s = engine();
    const c = handover(s, 50, STAFF, "device-new", [
      text("b", 20, CLIENT, "my reply", "delivered"),
      text("a", 10, STAFF, "hello", "read"),
      text("a", 10, STAFF, "hello again under the same id", "read"),
      text("c", 30, STAFF, "see you Thursday", "delivered"),
    ]);
    assert.deepEqual(
      c.messages.map((m) => [m.seq, m.text, m.mine, m.status, m.copyOf]),
      [
        [10, "hello", false, null, STAFF],
        [20, "my reply", true, "delivered", STAFF],
        [30, "see you Thursday", false, null, STAFF],
      ],
    );
    // Read up to the first message of theirs the person had not read.
    assert.equal(c.readSeq, 10);
    assert.equal(c.awaitingHistory, false);
  });

  it("drops what a lying member cannot have had: a third person's words, records after its handover, receipts", () => {
    const s = engine();
    const receipt = { ...text("r", 5, STAFF, ""), envelope: { client_message_id: "r".padEnd(32, "0"), sent_at_ms: 1, content: { type: "receipt", kind: "read", message_ids: ["a".padEnd(32, "0")] } } };
    const c = handover(s, 47, STAFF, "device-new", [
      text("x", 12, "user-someone-else", "words of a third person"),
      text("y", 45, STAFF, "placed at the join itself"),
      text("z", 99, STAFF, "placed after the handover"),
      text("j", 46, STAFF, "placed after this device joined, among what it received itself"),
      receipt,
      text("ok", 11, STAFF, "a forged but possible message"),
    ]);
    assert.deepEqual(c.messages.map((m) => m.text), ["a forged but possible message"]);
    assert.equal(c.messages[0].copyOf, STAFF, "marked as the handing member's copy");
  });

  it("queues a delivery receipt only for the other person's messages nobody of this person had received", () => {
    const s = engine();
    const c = handover(s, 60, CLIENT, "device-new", [
      text("w", 30, STAFF, "sent while the client had no device", "sent"),
      text("d", 31, STAFF, "already delivered", "delivered"),
      text("m", 32, CLIENT, "own words", "sent"),
    ]);
    assert.deepEqual(c.receipts, ["w".padEnd(32, "0")]);
    assert.equal(c.messages.find((m) => m.seq === 32).copyOf, CLIENT, "from the person's own other device");
  });

  it("a handover for another device is not taken: that device is only noted as served", () => {
    const s = engine();
    const c = conv(s, CONV);
    c.handovers = { "device-other": 123 };
    handover(s, 70, STAFF, "device-other", [text("q", 3, STAFF, "not for this device")]);
    assert.deepEqual(c.messages, []);
    assert.equal(c.handed["device-other"], true);
    assert.equal(c.handovers["device-other"], undefined, "its own fallback send is dropped");
  });

  it("takes a handover only while waiting for one, and then only the chunks of the first member that gave one", () => {
    const s = engine();
    const c = handover(s, 50, STAFF, "device-new", [text("a", 10, STAFF, "first chunk")], "staff-laptop");
    handover(s, 51, STAFF, "device-new", [text("b", 11, STAFF, "second chunk")], "staff-laptop");
    // Another member's handover afterwards (forged, or late): refused.
    handover(s, 52, CLIENT, "device-new", [text("x", 12, STAFF, "slipped in later")], "client-phone");
    assert.deepEqual(c.messages.map((m) => m.text), ["first chunk", "second chunk"]);
    // A device that is not waiting (it has its own history) takes none.
    const settled = engine();
    const own = conv(settled, CONV);
    own.awaitingHistory = false;
    handover(settled, 60, STAFF, "device-new", [text("f", 10, STAFF, "forged into a device with its own history")]);
    assert.deepEqual(own.messages, []);
  });
});
