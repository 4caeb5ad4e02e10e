// ML-KEM-1024 interoperability with @noble/post-quantum, both directions.
//
//   node mlkem_interop.mjs lib <crypto_tool path> <workdir>
//       through the library (tests/interop/crypto_tool.cc, raw files)
//   node mlkem_interop.mjs ctl <dsmilctl path> <workdir>
//       through `dsmilctl keys gen` / `dsmilctl kem encaps|decaps`
//
// Checks: our keys and ciphertexts decapsulate in noble and noble's here,
// deterministic key generation and encapsulation are byte-identical, a
// flipped ciphertext bit gives the same implicit-rejection secret on both
// sides (and not the real one), and bad input is refused.
// The noble package is found through DSMIL_NOBLE_DIR (a folder holding
// node_modules/@noble/post-quantum) or the working directory.
// Exits 0 when every check passes, 1 otherwise.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

async function loadNoble(file) {
  for (const base of [process.env.DSMIL_NOBLE_DIR, process.cwd()].filter(Boolean)) {
    try {
      const req = createRequire(path.join(path.resolve(base), 'package.json'));
      return await import(pathToFileURL(req.resolve(`@noble/post-quantum/${file}`)).href);
    } catch {
      // try the next place
    }
  }
  return await import(`@noble/post-quantum/${file}`);
}

const [mode, tool, workdirArg] = process.argv.slice(2);
if (!['lib', 'ctl'].includes(mode) || !tool || !workdirArg) {
  console.error('usage: node mlkem_interop.mjs lib|ctl <crypto_tool or dsmilctl path> <workdir>');
  process.exit(2);
}
const workdir = path.resolve(workdirArg);
mkdirSync(workdir, { recursive: true });
const { ml_kem1024 } = await loadNoble('ml-kem.js');

let failures = 0;
let checks = 0;
function check(ok, what) {
  checks++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}
const f = (name) => path.join(workdir, name);
const hex = (b) => Buffer.from(b).toString('hex');
const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const read = (name) => new Uint8Array(readFileSync(f(name)));
const mode8 = (name) => statSync(f(name)).mode & 0o777;

function run(args) {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0 && r.stderr) console.log(`  (${path.basename(tool)} ${args[0]}: exit ${r.status}: ${r.stderr.trim()})`);
  return r;
}

// The PREFIX.key container of docs/crypto.md: "DSMILKEY" | 1 | alg 2 | 0 0 | u32be len | dk.
function keyContainer(dk) {
  const out = new Uint8Array(16 + dk.length);
  out.set(new TextEncoder().encode('DSMILKEY'), 0);
  out[8] = 1;
  out[9] = 2;
  new DataView(out.buffer).setUint32(12, dk.length, false);
  out.set(dk, 16);
  return out;
}

function flipBit(ct, bit) {
  const t = Uint8Array.from(ct);
  t[bit >> 3] ^= 1 << (bit & 7);
  return t;
}

const ROUNDS = 5;

if (mode === 'lib') {
  for (let i = 0; i < ROUNDS; i++) {
    // noble keys, our encapsulation, noble decapsulation.
    const nk = ml_kem1024.keygen(new Uint8Array(randomBytes(64)));
    writeFileSync(f('n.ek'), nk.publicKey);
    writeFileSync(f('n.dk'), nk.secretKey);
    check(run(['mlkem-encaps', f('n.ek'), f('o.ct'), f('o.ss')]).status === 0, `[${i}] encaps to a noble key`);
    check(equal(ml_kem1024.decapsulate(read('o.ct'), nk.secretKey), read('o.ss')),
      `[${i}] noble decapsulates our ciphertext to our secret`);
    // Our keys, noble encapsulation, our decapsulation.
    check(run(['mlkem-keygen', f('o.ek'), f('o.dk')]).status === 0, `[${i}] keygen`);
    const { cipherText, sharedSecret } = ml_kem1024.encapsulate(read('o.ek'));
    writeFileSync(f('n.ct'), cipherText);
    check(run(['mlkem-decaps', f('o.dk'), f('n.ct'), f('n.ss')]).status === 0, `[${i}] decaps of a noble ciphertext`);
    check(equal(read('n.ss'), sharedSecret), `[${i}] we decapsulate noble's ciphertext to noble's secret`);
    // Tampered: same implicit-rejection value on both sides, not the real secret.
    const bad = flipBit(cipherText, 13 + 97 * i);
    writeFileSync(f('bad.ct'), bad);
    run(['mlkem-decaps', f('o.dk'), f('bad.ct'), f('bad.ss')]);
    const ours = read('bad.ss');
    check(!equal(ours, sharedSecret) && equal(ours, ml_kem1024.decapsulate(bad, read('o.dk'))),
      `[${i}] flipped ciphertext bit: same rejection secret as noble, not the real one`);
  }
  // Deterministic forms, byte for byte.
  const seed = new Uint8Array(randomBytes(64));
  const nk = ml_kem1024.keygen(seed);
  run(['mlkem-keygen', f('d.ek'), f('d.dk'), hex(seed)]);
  check(equal(read('d.ek'), nk.publicKey) && equal(read('d.dk'), nk.secretKey),
    'KeyGen_internal(d, z) equals noble keygen(d || z)');
  const m = new Uint8Array(randomBytes(32));
  const ne = ml_kem1024.encapsulate(nk.publicKey, m);
  run(['mlkem-encaps', f('d.ek'), f('d.ct'), f('d.ss'), hex(m)]);
  check(equal(read('d.ct'), ne.cipherText) && equal(read('d.ss'), ne.sharedSecret),
    'Encaps_internal(ek, m) equals noble encapsulate(ek, m)');
  // Bad ek (coefficient 0 = 4095) refused.
  const badEk = Uint8Array.from(nk.publicKey);
  badEk[0] = 0xff;
  badEk[1] |= 0x0f;
  writeFileSync(f('bad.ek'), badEk);
  const r = run(['mlkem-encaps', f('bad.ek'), f('x.ct'), f('x.ss')]);
  check(r.status === 1 && r.stderr.includes('modulus check'), 'ek failing the modulus check is refused');
} else {
  for (let i = 0; i < ROUNDS; i++) {
    // dsmilctl keys, noble encapsulation, dsmilctl decapsulation.
    let r = run(['keys', 'gen', '--alg', 'ml-kem-1024', '--out', f('ctl')]);
    check(r.status === 0, `[${i}] dsmilctl keys gen --alg ml-kem-1024`);
    check(mode8('ctl.key') === 0o600, `[${i}] ctl.key is mode 0600`);
    const ek = read('ctl.pub');
    check(ek.length === 1568, `[${i}] ctl.pub is the raw 1568-byte encapsulation key`);
    const key = read('ctl.key');
    const dk = key.subarray(16);
    check(equal(dk.subarray(1536, 1536 + 1568), ek), `[${i}] ctl.key holds the FIPS 203 dk (embeds ek)`);
    const { cipherText, sharedSecret } = ml_kem1024.encapsulate(ek);
    writeFileSync(f('n.ct'), cipherText);
    r = run(['kem', 'decaps', '--key', f('ctl.key'), '--ct', f('n.ct'), '--secret', f('n.ss')]);
    check(r.status === 0 && equal(read('n.ss'), sharedSecret), `[${i}] dsmilctl kem decaps of a noble ciphertext`);
    check(mode8('n.ss') === 0o600, `[${i}] secret file is mode 0600`);
    // noble's own decapsulation with the dk from our key file.
    check(equal(ml_kem1024.decapsulate(cipherText, dk), sharedSecret), `[${i}] noble decapsulates with our dk`);
    // noble keys, dsmilctl encapsulation, noble decapsulation.
    const nk = ml_kem1024.keygen(new Uint8Array(randomBytes(64)));
    writeFileSync(f('noble.pub'), nk.publicKey);
    r = run(['kem', 'encaps', '--pub', f('noble.pub'), '--ct', f('o.ct'), '--secret', f('o.ss')]);
    check(r.status === 0, `[${i}] dsmilctl kem encaps to a noble key`);
    check(equal(ml_kem1024.decapsulate(read('o.ct'), nk.secretKey), read('o.ss')),
      `[${i}] noble decapsulates dsmilctl's ciphertext to the same secret`);
    // noble's dk in our container, decapsulated by dsmilctl.
    writeFileSync(f('noble.key'), keyContainer(nk.secretKey), { mode: 0o600 });
    chmodSync(f('noble.key'), 0o600);
    r = run(['kem', 'decaps', '--key', f('noble.key'), '--ct', f('o.ct'), '--secret', f('o2.ss')]);
    check(r.status === 0 && equal(read('o2.ss'), read('o.ss')), `[${i}] dsmilctl decapsulates with noble's dk`);
    // Tampered ciphertext: the rejection value, identical to noble's.
    const bad = flipBit(cipherText, 1000 + 331 * i);
    writeFileSync(f('bad.ct'), bad);
    r = run(['kem', 'decaps', '--key', f('ctl.key'), '--ct', f('bad.ct'), '--secret', f('bad.ss')]);
    check(r.status === 0 && !equal(read('bad.ss'), sharedSecret) &&
      equal(read('bad.ss'), ml_kem1024.decapsulate(bad, dk)),
      `[${i}] flipped ciphertext bit: rejection secret equal to noble's, not the real one`);
  }
  // Refusals, exit 2 with a clear message.
  chmodSync(f('ctl.key'), 0o644);
  let r = run(['kem', 'decaps', '--key', f('ctl.key'), '--ct', f('n.ct'), '--secret', f('x.ss')]);
  check(r.status === 2 && r.stderr.includes('mode 0644'), 'a group/world-readable key file is refused (exit 2)');
  chmodSync(f('ctl.key'), 0o600);
  writeFileSync(f('short.ct'), new Uint8Array(100));
  r = run(['kem', 'decaps', '--key', f('ctl.key'), '--ct', f('short.ct'), '--secret', f('x.ss')]);
  check(r.status === 2 && r.stderr.includes('ciphertext is 100 bytes'), 'a short ciphertext is refused (exit 2)');
  const badEk = read('noble.pub');
  badEk[0] = 0xff;
  badEk[1] |= 0x0f;
  writeFileSync(f('bad.pub'), badEk);
  r = run(['kem', 'encaps', '--pub', f('bad.pub'), '--ct', f('x.ct'), '--secret', f('x.ss')]);
  check(r.status === 2 && r.stderr.includes('modulus check'), 'an ek failing the modulus check is refused (exit 2)');
  r = run(['keys', 'gen', '--alg', 'rsa-2048', '--out', f('x')]);
  check(r.status === 2, 'an unknown --alg is refused (exit 2)');
  // ML-DSA-87 keys from dsmilctl sign and verify in noble.
  r = run(['keys', 'gen', '--alg', 'ml-dsa-87', '--out', f('dsa')]);
  check(r.status === 0 && mode8('dsa.key') === 0o600, 'dsmilctl keys gen --alg ml-dsa-87');
  const { ml_dsa87 } = await loadNoble('ml-dsa.js');
  const pk = read('dsa.pub');
  const sk = read('dsa.key').subarray(16);
  check(pk.length === 2592 && sk.length === 4896, 'ML-DSA-87 key files hold 2592/4896 raw bytes');
  const msg = new Uint8Array(randomBytes(100));
  check(ml_dsa87.verify(ml_dsa87.sign(msg, sk), msg, pk), 'noble signs with our ML-DSA-87 key and verifies with our public key');
}

console.log(`${checks - failures}/${checks} checks passed (${mode})`);
process.exit(failures === 0 ? 0 : 1);
