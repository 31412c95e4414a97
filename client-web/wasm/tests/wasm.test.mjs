// Node test of the built module (client-web/build-wasm.sh --test).
// Two wasm device instances hold a conversation, seal/unseal mid-way, the
// server key removes a device, and the checked-in vectors are verified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const w = require(path.join(here, '..', 'pkg-node', 'alcove_wasm.js'));
const vectorsDir = path.join(here, '..', '..', '..', 'crypto', 'tests', 'vectors');

const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (u) => Buffer.from(u).toString('hex');
const utf8 = (s) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);
const GROUP = utf8('conv-0b7f2a3c-wasm');
const PRACTICE = '6f1c2a4e-8b1d-4c55-9a57-2f0d3c9b7e11';

function text(s, id) {
  return w.envelopeEncode(JSON.stringify({
    client_message_id: id.toString(16).padStart(2, '0').repeat(16),
    sent_at_ms: Date.now(),
    content: { type: 'text', text: s },
  }));
}

function decodeText(plaintext) {
  const e = JSON.parse(w.envelopeDecode(plaintext));
  assert.equal(e.content.type, 'text');
  return e.content.text;
}

function codeOf(fn) {
  try { fn(); } catch (e) { return e.code; }
  return null;
}

test('envelope vectors', () => {
  const v = JSON.parse(readFileSync(path.join(vectorsDir, 'envelope.json'), 'utf8'));
  assert.ok(v.vectors.length >= 10);
  for (const c of v.vectors) {
    const enc = w.envelopeEncode(JSON.stringify(c.envelope));
    assert.equal(toHex(enc), c.encoded, `encode ${c.name}`);
    assert.deepEqual(JSON.parse(w.envelopeDecode(hex(c.encoded))), c.envelope, `decode ${c.name}`);
  }
  for (const c of v.invalid) {
    assert.equal(codeOf(() => w.envelopeDecode(hex(c.encoded))), c.error, `invalid ${c.name}`);
  }
});

test('sealing vectors', () => {
  const v = JSON.parse(readFileSync(path.join(vectorsDir, 'sealing.json'), 'utf8'));
  assert.ok(v.vectors.length >= 3);
  for (const c of v.vectors) {
    const sealed = w.sealWithNonceForVectors(hex(c.plaintext), c.device_id, hex(c.device_secret), hex(c.unlock_share), hex(c.nonce));
    assert.equal(toHex(sealed), c.sealed, `seal ${c.name}`);
    const opened = w.unsealBytes(hex(c.sealed), c.device_id, hex(c.device_secret), hex(c.unlock_share));
    assert.equal(toHex(opened), c.plaintext, `unseal ${c.name}`);
    assert.equal(codeOf(() => w.unsealBytes(hex(c.sealed), 'other-device', hex(c.device_secret), hex(c.unlock_share))), 'unseal_failed');
  }
});

test('sealBytes: random nonce, round trip, bound to the label and both secrets', () => {
  const ds = new Uint8Array(32).fill(7);
  const us = new Uint8Array(32).fill(9);
  const data = utf8('{"messages":["hello"]}');
  const a = w.sealBytes(data, 'dev-1/history', ds, us);
  const b = w.sealBytes(data, 'dev-1/history', ds, us);
  assert.notEqual(toHex(a), toHex(b), 'fresh nonce each time');
  assert.equal(toHex(w.unsealBytes(a, 'dev-1/history', ds, us)), toHex(data));
  assert.equal(codeOf(() => w.unsealBytes(a, 'dev-1', ds, us)), 'unseal_failed');
  assert.equal(codeOf(() => w.unsealBytes(a, 'dev-1/history', ds, new Uint8Array(32))), 'unseal_failed');
  assert.equal(codeOf(() => w.sealBytes(data, 'dev-1/history', ds, new Uint8Array(31))), 'invalid_argument');
});

test('two wasm instances converse, seal/unseal mid-conversation, external remove', () => {
  const serverKey = w.serverKeyGenerate();
  const alice = new w.AlcoveDevice(PRACTICE, 'clinician-1', 'alice-laptop');
  let bob = new w.AlcoveDevice(PRACTICE, 'client-1', 'bob-phone');

  alice.createGroup(GROUP, w.serverKeyPublic(serverKey));
  const [kp] = bob.keyPackages(1, now());
  const add = alice.addDevices(GROUP, [kp]);
  assert.equal(add.epoch, 0);
  assert.equal(add.welcomeKeyPackageRefs.length, 1);
  assert.equal(alice.mergePendingCommit(GROUP), 1);
  const joined = bob.joinFromWelcome(add.welcome);
  assert.equal(joined.epoch, 1);
  assert.deepEqual([...joined.groupId], [...GROUP]);
  assert.deepEqual(bob.members(GROUP).map((m) => m.deviceId).sort(), ['alice-laptop', 'bob-phone']);

  // Both directions.
  let r = bob.process(alice.encrypt(GROUP, text('Hi Bob, see you Tuesday.', 1)));
  assert.equal(r.kind, 'application');
  assert.equal(r.sender.deviceId, 'alice-laptop');
  assert.equal(decodeText(r.plaintext), 'Hi Bob, see you Tuesday.');
  r = alice.process(bob.encrypt(GROUP, text('Thanks!', 2)));
  assert.equal(decodeText(r.plaintext), 'Thanks!');

  // Bob seals his state (tab closed) and comes back.
  const ds = crypto.getRandomValues(new Uint8Array(32));
  const us = crypto.getRandomValues(new Uint8Array(32));
  const sealed = bob.seal(ds, us);
  bob.free();
  const wrong = crypto.getRandomValues(new Uint8Array(32));
  assert.equal(codeOf(() => w.AlcoveDevice.unseal(sealed, 'bob-phone', ds, wrong)), 'unseal_failed');
  assert.equal(codeOf(() => w.AlcoveDevice.unseal(sealed, 'bob-phone', ds, us.slice(0, 31))), 'invalid_argument');
  const away = alice.encrypt(GROUP, text('While you were away', 3));
  bob = w.AlcoveDevice.unseal(sealed, 'bob-phone', ds, us);
  assert.equal(bob.epoch(GROUP), 1);
  assert.equal(decodeText(bob.process(away).plaintext), 'While you were away');
  assert.equal(decodeText(alice.process(bob.encrypt(GROUP, text('Back', 4))).plaintext), 'Back');

  // Self-update (post-compromise security) by Bob, echoed back to him.
  const upd = bob.selfUpdate(GROUP);
  assert.equal(alice.process(upd.commit).kind, 'commit_merged');
  assert.equal(bob.process(upd.commit).kind, 'own_commit_merged');
  assert.equal(alice.epoch(GROUP), 2);

  // Bob adds a second device, then the server revokes it; Bob commits.
  const tablet = new w.AlcoveDevice(PRACTICE, 'client-1', 'bob-tablet');
  const add2 = bob.addDevices(GROUP, tablet.keyPackages(1, now()));
  bob.mergePendingCommit(GROUP);
  alice.process(add2.commit);
  tablet.joinFromWelcome(add2.welcome);
  const leaf = tablet.ownLeafIndex(GROUP);
  const proposal = w.serverProposeRemove(serverKey, GROUP, alice.epoch(GROUP), leaf);
  for (const d of [alice, bob, tablet]) {
    const p = d.process(proposal);
    assert.equal(p.kind, 'proposal_stored');
    assert.equal(p.fromServer, true);
    assert.equal(p.removes[0].deviceId, 'bob-tablet');
  }
  assert.equal(tablet.commitPendingProposals(GROUP), null);
  const rm = bob.commitPendingProposals(GROUP);
  assert.equal(bob.process(rm.commit).kind, 'own_commit_merged');
  assert.equal(alice.process(rm.commit).kind, 'commit_merged');
  assert.equal(tablet.process(rm.commit).selfRemoved, true);
  const after = alice.encrypt(GROUP, text('after revocation', 5));
  assert.equal(decodeText(bob.process(after).plaintext), 'after revocation');
  const err = (() => { try { tablet.process(after); } catch (e) { return e; } })();
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'not_member');

  // Boundary validation: errors are JS Errors with stable codes.
  assert.equal(codeOf(() => alice.encrypt(new Uint8Array(0), utf8('x'))), 'invalid_argument');
  assert.equal(codeOf(() => alice.process(new Uint8Array([1, 2, 3]))), 'malformed');
  assert.equal(codeOf(() => alice.keyPackages(1, -5)), 'invalid_argument');
  assert.equal(codeOf(() => alice.epoch(utf8('no-such-group'))), 'unknown_group');
});

test('a new device joins by external commit (GroupInfo from the creator or the last commit)', () => {
  const serverKey = w.serverKeyGenerate();
  const G = utf8('conv-external-join-wasm');
  const alice = new w.AlcoveDevice(PRACTICE, 'clinician-1', 'alice-laptop');
  const bob = new w.AlcoveDevice(PRACTICE, 'client-1', 'bob-phone');
  const tablet = new w.AlcoveDevice(PRACTICE, 'client-1', 'bob-tablet');

  alice.createGroup(G, w.serverKeyPublic(serverKey));
  const gi0 = alice.groupInfo(G);
  assert.ok(gi0 instanceof Uint8Array && gi0.length > 0);
  assert.equal(codeOf(() => alice.groupInfo(utf8('no-such-group'))), 'unknown_group');

  // Bob joins by himself from the epoch-0 GroupInfo: merged at once.
  const join = bob.joinByExternalCommit(gi0);
  assert.equal(join.epoch, 0);
  assert.equal(join.welcome, null);
  assert.equal(join.welcomeKeyPackageRefs.length, 0);
  assert.ok(join.groupInfo instanceof Uint8Array && join.groupInfo.length > 0);
  assert.equal(bob.epoch(G), 1);
  assert.equal(bob.isActive(G), true);
  // Already a member: refused.
  assert.equal(codeOf(() => bob.joinByExternalCommit(gi0)), 'group_exists');

  const r = alice.process(join.commit);
  assert.equal(r.kind, 'commit_merged');
  assert.deepEqual(r.added.map((m) => m.deviceId), ['bob-phone']);
  assert.equal(r.committer, r.added[0].leafIndex);
  assert.equal(alice.epoch(G), 1);
  assert.deepEqual(alice.members(G).map((m) => m.deviceId).sort(), ['alice-laptop', 'bob-phone']);
  assert.equal(decodeText(bob.process(alice.encrypt(G, text('welcome aboard', 1))).plaintext), 'welcome aboard');
  assert.equal(decodeText(alice.process(bob.encrypt(G, text('first from bob', 2))).plaintext), 'first from bob');

  // The tablet loses a race: it joins from the epoch-1 GroupInfo (carried by
  // Bob's commit) while Alice's self-update wins epoch 1.
  const stale = tablet.joinByExternalCommit(join.groupInfo);
  const upd = alice.selfUpdate(G);
  assert.ok(upd.groupInfo instanceof Uint8Array);
  assert.equal(alice.mergePendingCommit(G), 2);
  assert.equal(bob.process(upd.commit).kind, 'commit_merged');
  assert.equal(stale.epoch, 1);
  // Refused by the server: forget the optimistic state, fetch the new one.
  tablet.forgetGroup(G);
  assert.equal(codeOf(() => tablet.epoch(G)), 'unknown_group');
  assert.equal(codeOf(() => tablet.forgetGroup(G)), 'unknown_group');
  const again = tablet.joinByExternalCommit(upd.groupInfo);
  assert.equal(again.epoch, 2);
  for (const d of [alice, bob]) {
    const m = d.process(again.commit);
    assert.equal(m.kind, 'commit_merged');
    assert.deepEqual(m.added.map((x) => x.deviceId), ['bob-tablet']);
  }
  assert.equal(decodeText(tablet.process(alice.encrypt(G, text('hello tablet', 3))).plaintext), 'hello tablet');
  assert.equal(decodeText(bob.process(tablet.encrypt(G, text('from the tablet', 4))).plaintext), 'from the tablet');

  // Add and remove commits carry the GroupInfo of their new epoch too.
  const phone2 = new w.AlcoveDevice(PRACTICE, 'clinician-1', 'alice-phone');
  const add = alice.addDevices(G, phone2.keyPackages(1, now()));
  assert.ok(add.groupInfo instanceof Uint8Array && add.groupInfo.length > 0);
  // The current epoch's GroupInfo can still be exported with a commit pending
  // (re-uploaded when the server answers group_state_missing).
  assert.ok(alice.groupInfo(G).length > 0);
  alice.discardPendingCommit(G);
  const rm = alice.removeDevices(G, [tablet.ownLeafIndex(G)]);
  assert.ok(rm.groupInfo instanceof Uint8Array && rm.groupInfo.length > 0);
  alice.mergePendingCommit(G);
  assert.equal(bob.process(rm.commit).kind, 'commit_merged');
  assert.equal(tablet.process(rm.commit).selfRemoved, true);
  assert.equal(tablet.isActive(G), false);
  // A removed device's inactive state is replaced by a new external join.
  const back = tablet.joinByExternalCommit(rm.groupInfo);
  assert.equal(back.epoch, 4);
  assert.equal(tablet.isActive(G), true);

  // An externally joined group survives seal/unseal like any other.
  const ds = crypto.getRandomValues(new Uint8Array(32));
  const us = crypto.getRandomValues(new Uint8Array(32));
  const bob2 = w.AlcoveDevice.unseal(bob.seal(ds, us), 'bob-phone', ds, us);
  assert.equal(bob2.epoch(G), 4);
  assert.equal(decodeText(alice.process(bob2.encrypt(G, text('after unseal', 5))).plaintext), 'after unseal');
});
