#!/usr/bin/env node
// tokspeed.js - Hugging Face tokenizers (npm `tokenizers`, Rust core) on the
// same text as build/tokspeed, for the side-by-side speed table:
//
//   RAYON_NUM_THREADS=1 node bench/tokspeed.js TOKENIZER_JSON TEXT [ROUNDS] [--lines]
//
// (cd tools && npm install: the same package as tools/tokvectors.js.)
// Whole: one encode() call on the text; --lines: encodeBatch of the lines
// (each with its "\n", as build/tokspeed cuts them), one thread. Prints MB/s
// per round, median and spread, the id count and the FNV-1a checksum of the
// ids (the same as build/tokspeed's when the ids are the same).
'use strict';
const fs = require('fs');
const path = require('path');
// the package from tools/node_modules, or the current directory's
const {Tokenizer} = require(require.resolve('tokenizers', {paths: [path.join(__dirname, '../tools'), process.cwd()]}));

(async () => {
  const args = process.argv.slice(2).filter((a) => a !== '--lines');
  const lines = process.argv.includes('--lines');
  const [tokPath, textPath] = args;
  const rounds = +(args[2] || 5);
  const tok = Tokenizer.fromFile(tokPath);
  const buf = fs.readFileSync(textPath);
  const text = buf.toString('utf8');
  const mb = buf.length / 1e6;
  const parts = lines ? text.split(/(?<=\n)/) : [text];
  const speeds = [];
  let n = 0, h = 0n;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const encs = lines ? await tok.encodeBatch(parts, {addSpecialTokens: false})
      : [await tok.encode(text, null, {addSpecialTokens: false})];
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    speeds.push(mb / dt);
    n = 0; h = 1469598103934665603n;
    for (const e of encs) for (const id of e.getIds()) { h ^= BigInt(id); h = (h * 1099511628211n) & 0xFFFFFFFFFFFFFFFFn; n++; }
  }
  const s = [...speeds].sort((a, b) => a - b);
  console.log(`HF tokenizers ${lines ? 'lines' : 'whole'}: ${mb.toFixed(2)} MB, ${n} ids, checksum ${h.toString(16).padStart(16, '0')}, MB/s: ` +
    speeds.map((x) => x.toFixed(2)).join(' ') + ` | median ${s[rounds >> 1].toFixed(2)}, min ${s[0].toFixed(2)}, max ${s[rounds - 1].toFixed(2)}`);
})();
