// Rough wasm-in-node timings (after client-web/build-wasm.sh):
//   node client-web/wasm/tests/bench.mjs
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const w = createRequire(import.meta.url)(path.join(here, '..', 'pkg-node', 'alcove_wasm.js'));
const now = () => Math.floor(Date.now() / 1000);
const G = new TextEncoder().encode('bench-group');

// V8 first runs WebAssembly in its baseline compiler and tiers hot
// functions up in the background, so a short run measures the baseline
// tier. Warm up, then report the median of three timed rounds (steady
// state, what a page that has been open for a few messages sees).
function time(label, n, fn, warm = Math.min(20, n)) {
  for (let i = 0; i < warm; i++) fn(i);
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    rounds.push((performance.now() - t0) / n);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${label.padEnd(40)} ${rounds[1].toFixed(3)} ms  (rounds ${rounds.map((x) => x.toFixed(3)).join(' / ')})`);
}

function group(n) {
  const server = w.serverKeyGenerate();
  const creator = new w.AlcoveDevice('p', 'u0', 'd0');
  creator.createGroup(G, w.serverKeyPublic(server));
  const others = [];
  for (let i = 1; i < n; i++) others.push(new w.AlcoveDevice('p', `u${i}`, `d${i}`));
  let first = null;
  if (others.length) {
    const out = creator.addDevices(G, others.map((d) => d.keyPackages(1, now())[0]));
    creator.mergePendingCommit(G);
    first = others[0];
    first.joinFromWelcome(out.welcome);
  }
  return { creator, first };
}

const payload = new Uint8Array(200).fill(97);
{
  const { creator, first } = group(2);
  time('encrypt+decrypt 200 B', 300, () => first.process(creator.encrypt(G, payload)), 300);
  time('encrypt 200 B', 300, () => creator.encrypt(G, payload), 0);
}
const ds = new Uint8Array(32).fill(1), us = new Uint8Array(32).fill(2);
for (const n of [2, 10, 50]) {
  const { creator } = group(n);
  const sealed = creator.seal(ds, us);
  time(`remove one device, group of ${n}`, n === 50 ? 20 : 50, () => {
    const d = w.AlcoveDevice.unseal(sealed, 'd0', ds, us);
    d.removeDevices(G, [1]);
    d.mergePendingCommit(G);
    d.free();
  });
  time(`  (unseal alone, group of ${n})`, n === 50 ? 20 : 50, () => w.AlcoveDevice.unseal(sealed, 'd0', ds, us).free());
  const kpd = new w.AlcoveDevice('p', 'new', 'new');
  time(`add one device, group of ${n}`, n === 50 ? 20 : 50, () => {
    const d = w.AlcoveDevice.unseal(sealed, 'd0', ds, us);
    d.addDevices(G, kpd.keyPackages(1, now()));
    d.mergePendingCommit(G);
    d.free();
  });
  if (n === 10) {
    time('seal (10-device group)', 200, () => creator.seal(ds, us));
    time('unseal (10-device group)', 200, () => w.AlcoveDevice.unseal(sealed, 'd0', ds, us).free());
  }
}
