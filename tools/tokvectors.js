#!/usr/bin/env node
// tokvectors.js - write tokenizer test vectors with Hugging Face's own
// tokenizer (the `tokenizers` npm package, Rust core), the independent
// reference the C encoder in mamba.h must match id for id.
//
//   cd tools && npm install            # once: installs tokenizers@0.23.2
//   node tools/tokvectors.js ../shared/data/tokenizer.json tests/data/tok [DATA_DIR]
//   node tools/tokvectors.js tests/data/tok/small/tokenizer.json tests/data/tok/small --no-stories
//   node tools/tokvectors.js --jsonl tests/data/tok/qwen3/tokenizer.json tests/data/tok/qwen3/extra.jsonl
//
// --jsonl writes the extra vectors of the four other designs (tests/data/tok/
// DESIGNS.md) in the format of their vectors.jsonl: edge cases the C encoder
// must get right (case-folded contractions, white-space runs before
// newlines, "▁" in the text, added tokens glued together or cut short,
// unknown characters and byte fallback, NFC), 300 random strings from a
// pool of such characters, and 200 random id lists to decode (byte-fallback
// runs valid and not, spaces first, added tokens between). The PRNG is
// seeded: the same file every time.
//
// For each case NAME it writes three files:
//   NAME.in   the input, raw bytes (possibly invalid UTF-8)
//   NAME.ids  the ids, space-separated, one line
//   NAME.out  what Hugging Face's decode(ids, skip_special_tokens=false) gives, as UTF-8
// Invalid UTF-8 is first decoded the way TextDecoder does (each maximal
// ill-formed subsequence becomes U+FFFD); the C side documents the same rule.
// DATA_DIR (default: the tokenizer's folder) holds the TinyStories files that
// small excerpts are taken from (CDLA-Sharing-1.0, see tests/data/tok/README.md).
'use strict';
const fs = require('fs');
const path = require('path');
const {Tokenizer} = require('tokenizers');

function usage() {
  console.error('usage: node tokvectors.js TOKENIZER_JSON OUT_DIR [DATA_DIR] [--no-stories]');
  process.exit(2);
}

const args = process.argv.slice(2);
if (args[0] === '--jsonl') {
  jsonl(args[1], args[2]).catch((e) => { console.error('tokvectors: error: ' + e.message); process.exit(1); });
} else {
  main();
}

function main() {
const noStories = args.includes('--no-stories');
const [tokPath, outDir, dataDirArg] = args.filter((a) => a !== '--no-stories');
if (!tokPath || !outDir) usage();
const dataDir = dataDirArg || path.dirname(tokPath);

const spaces = (n) => ' '.repeat(n);
const cases = [];
const add = (name, input) => cases.push([name, Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8')]);

add('empty', '');
add('small_vocab', 'the cafe\u0301 was caf\u00e9! e\u0301! \u00e9!   x    y \n\n\n 123123 thing<|endoftext|>');
add('ascii', 'Hello, world! The quick brown fox jumps over the lazy dog.');
add('contractions', "I'm sure you'll see it's what they've done; we'd go, he's here. DON'T 'S 're 'X ''s");
add('accents', 'café naïve résumé Ångström façade jalapeño Øresund Łódź São Paulo');
add('nfc_composed', 'caf\u00e9 \u00c5 \u1e69 \u01d5 \u1f82');
add('nfc_decomposed', 'cafe\u0301 A\u030a s\u0323\u0307 U\u0308\u0304 \u03b1\u0313\u0300\u0345');
add('nfc_reorder', 'a\u0301\u0323 a\u0323\u0301 q\u0307\u0323 e\u0302\u0323\u0301 x\u0316\u0301\u0300\u0317');
add('nfc_exclusions', '\u0958 \u0344 \u2126 \u212b \u0340\u0341 \u0f73 \u2adc \ufb1d');
add('nfc_hangul', '\ud55c\uad6d\uc5b4 \u1112\u1161\u11ab \u1100\u1161 \uac00\u11a8 \u1100\u1161\u11a8\u11a8');
add('cjk', '我爱自然语言处理。東京は日本の首都です。北京欢迎你！');
add('thai', 'ภาษาไทยเป็นภาษาที่สวยงาม สวัสดีครับ');
add('arabic', 'مرحبا بالعالم! اللغة العربية جميلة. ١٢٣ ٤٥٦');
add('hebrew_devanagari', 'שלום עולם — नमस्ते दुनिया क़ ख़');
add('emoji', 'I ❤️ 🍕 and 🐍! 👍🏽 🇩🇪 🇺🇸 😀😃😄');
add('emoji_zwj', '👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑 ❤️‍🔥');
add('code', 'int main(void) {\n\tfor (int i = 0; i < 10; i++) {\n\t\tprintf("%d\\n", i);\n\t}\n    return 0; // done\n}\n');
add('python', 'def f(x):\n    if x:  # two spaces\n        return [y**2 for y in x]\n\treturn None\n');
add('digits', '0 1 12 123 1234 12345 3.14159 -42 1,000,000 2024-01-01 ½ ² ٣ ⅷ 10⁶');
add('tabs', 'a\tb\t\tc\t \td \t e\t');
add('crlf', 'line one\r\nline two\r\n\r\nline four\r\n');
add('crlf_end', 'x\r\n');
add('newlines', '\n\nA\n \nB \n\n  C\n\n\n');
for (let n = 1; n <= 30; n++) add('spaces_' + n, 'a' + spaces(n) + 'b');
add('spaces_leading', spaces(5) + 'lead');
add('spaces_trailing', 'trail' + spaces(7));
add('spaces_only_1', ' ');
add('spaces_only_25', spaces(25));
add('spaces_only_49', spaces(49));
add('spaces_newline', 'a   \n   b  \t  c');
add('specials', 'Hi<|endoftext|>there<|padding|> <|endoftext|><|endoftext|>  <|endoftext|>\u0301 end');
add('specials_partial', '<|endoftext| <|endoftext <|padding|<|pad');
add('mixed_scripts', 'Hello Привет Γειά 你好 こんにちは 안녕 مرحبا שלום नमस्ते ສະບາຍດີ Ⅻ');
add('unicode_spaces', 'a\u00a0b\u2003c\u3000d\u200be\u2028f\u0085g\u001ch\u001fi\u000bj\u000ck\u180el\ufeffm');
add('punct_runs', '!!! ??? ... --- *** ### $$$ (a) [b] {c} <d> "e" \'f\' `g` ~h~ @i@ ^j^ |k| \\l\\');
add('letters_marks', 'ǅ ǈ ᾈ ﬁ ﬀ ℌ ℵ ª º ʰ ˆ ◌̃');
add('control_chars', 'a\u0000b\u0001c\u007fd\u0080e\u009f');
add('private_use', 'x\ue000y\uf8ff\u{f0000}\u{10fffd}');
add('astral', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐍈 𒀀 🀄');
// invalid UTF-8 (the reference sees TextDecoder's replacement)
add('invalid_lone_cont', Buffer.from([0x61, 0x80, 0x62, 0xbf, 0x63]));
add('invalid_truncated', Buffer.from([0x61, 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x98, 0x63, 0xc3]));
add('invalid_overlong', Buffer.from([0xc0, 0xaf, 0xe0, 0x80, 0xaf, 0xf0, 0x80, 0x80, 0xaf, 0x41]));
add('invalid_surrogate', Buffer.from([0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf, 0x20, 0x78]));
add('invalid_range', Buffer.from([0xf4, 0x90, 0x80, 0x80, 0xf5, 0xff, 0xfe, 0x20, 0x7a]));
add('invalid_mixed', Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' na\u00efve '),
                                    Buffer.from([0xcc]), Buffer.from('x\u0301')]));

// TinyStories excerpts: a few kilobytes from each file, at fixed offsets.
const excerpts = [
  ['tinystories_sample_2MiB.txt', [0, 700000, 1500000]],
  ['tinystoriesV2_gpt4_train_first10k_lines.txt', [0, 900000]],
  ['tinystories_valid_prefix.txt', [0, 400000]],
];
for (const [file, offsets] of (noStories ? [] : excerpts)) {
  const p = path.join(dataDir, file);
  if (!fs.existsSync(p)) { console.error('tokvectors: missing ' + p); process.exit(1); }
  const text = fs.readFileSync(p, 'utf8');
  offsets.forEach((off, k) => {
    // cut at line starts so excerpts are whole lines
    let a = off === 0 ? 0 : text.indexOf('\n', off) + 1;
    let b = text.indexOf('\n', a + 7000);
    if (b < 0) b = text.length;
    add('tinystories_' + file.split('_')[0].replace('tinystories', '') + '_' + file.length + '_' + k,
        text.slice(a, b));
  });
}

(async () => {
  const tk = Tokenizer.fromFile(tokPath);
  fs.mkdirSync(outDir, {recursive: true});
  const dec = new TextDecoder('utf-8');
  const names = [];
  for (const [name, bytes] of cases) {
    const text = dec.decode(bytes);
    const enc = await tk.encode(text);
    const ids = Array.from(enc.getIds());
    const out = await tk.decode(ids, false);
    fs.writeFileSync(path.join(outDir, name + '.in'), bytes);
    fs.writeFileSync(path.join(outDir, name + '.ids'), ids.join(' ') + '\n');
    fs.writeFileSync(path.join(outDir, name + '.out'), Buffer.from(out, 'utf8'));
    names.push(name);
  }
  fs.writeFileSync(path.join(outDir, 'cases.txt'), names.join('\n') + '\n');
  console.log('tokvectors: wrote ' + names.length + ' cases to ' + outDir);
})().catch((e) => { console.error('tokvectors: error: ' + e.message); process.exit(1); });
}

async function jsonl(tokPath, outPath) {
  if (!tokPath || !outPath) usage();
  const tk = Tokenizer.fromFile(tokPath);
  const json = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  const added = (json.added_tokens || []).map((a) => a.content);
  const vocab = json.model.vocab;
  const nVocab = [...Object.values(vocab), ...(json.added_tokens || []).map((a) => a.id)].reduce((a, b) => Math.max(a, b), 0) + 1;
  let seed = 0x9e3779b9;
  const rnd = (n) => { seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return seed % n; };
  const texts = [
    "'s 'S 'ſ 't 'T 're 'RE 'rE 've 'VE 'm 'M 'll 'LL 'lL 'd 'D 'K 'x",
    "DON'T WE'LL YOU'VE I'M SHE'D THEY'RE IT'S it\u2019s it's''s",
    'a' + ' '.repeat(50) + 'b', '\n' + ' '.repeat(10) + 'x', ' \n \n \n', '\t\t\n\n  \r\n  x', 'x  \n\n  ',
    'end   ', '   ', '\n', '\r', '\r\r\n\n\r', ' \u00a0 \u3000x\u2028y\u2029z\u0085w', '\u000b\u000c\u001c\u001f',
    '1234567 12345678901234567890 x12y345z 3.14159 \u0661\u0662\u0663\u0664\u0665 \u2460\u2461 \u00bd',
    '\u2581Hello a\u2581b \u2581\u2581 \u2581 x  \u2581x \u2581', ' leading', '  two leading', 'trailing ',
    'a'.repeat(2000), '!?'.repeat(300) + 'x', 'ab'.repeat(500), '\u00e9'.repeat(300), '\u4e2d'.repeat(200),
    'e\u0301 \u00c5 A\u030a \u1e69 s\u0323\u0307 \ufb01 \u2126 \uac00 \u1100\u1161\u11a8',
    '\u{10ffff} \u{1f600}\u{1f3fd} \u0000 \u{e0041} \ufffd \uffff \u{2a6d6}', '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}',
    'x' + '\u0301'.repeat(40), 'tab\tand\ttabs\t\t\tend', 'mixed \u0418\u0432\u0430\u043d \u03a3\u03bf\u03c6\u03af\u03b1 \u05e9\u05dc\u05d5\u05dd',
    'http://example.com/a_b-c?d=e&f=g#h', 'int x=1;\n\tif(x){\n\t\treturn -x;\n\t}\n',
  ];
  const specials = added.slice(0, 8);
  for (const a of specials) {
    texts.push(a + a, a + ' ' + a, 'x' + a + 'y', ' ' + a, a + ' ', a + '\n' + a, a.slice(0, -1), a.slice(1), '\u2581' + a);
  }
  if (specials.length >= 2) texts.push(specials.join(''), specials.join(' '), specials.join('\u2581'));
  const pool = ['a', 'b', 'Z', 'e', 'é', 'e\u0301', ' ', ' ', ' ', '  ', '\n', '\r\n', '\t', '\u00a0', '\u3000', '1', '23', '456',
    "'", "'s", "'LL", '.', ',', '!', '?', '-', '_', '(', ')', '\u2581', '\u4e2d', '\u00df', '\u0130', '\u{1f600}',
    '\u0301', '\u{10ffff}', '\u0000', '\u0661', 'Hello', ' world', 'the', ...specials];
  for (let k = 0; k < 300; k++) {
    let t = '';
    const n = 1 + rnd(40);
    for (let j = 0; j < n; j++) t += pool[rnd(pool.length)];
    texts.push(t);
  }
  const lines = [];
  for (const [k, text] of texts.entries()) {
    const enc = await tk.encode(text, null, {addSpecialTokens: false});
    const ids = Array.from(enc.getIds());
    const tmpl = Array.from((await tk.encode(text, null, {addSpecialTokens: true})).getIds());
    const decoded = await tk.decode(ids, false);
    lines.push(JSON.stringify({case: 'extra ' + k, text, ids, ids_template: tmpl, decoded,
      decoded_hex: Buffer.from(decoded, 'utf8').toString('hex')}));
  }
  // decode-only: random ids biased to byte tokens, spaces and added tokens
  const byteIds = [];
  for (let b = 0; b < 256; b++) {
    const k = '<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>';
    if (k in vocab) byteIds.push(vocab[k]);
  }
  const spaceIds = ['\u2581', '\u2581\u2581', '\u0120', '\u0120\u0120', ' '].filter((k) => k in vocab).map((k) => vocab[k]);
  const addedIds = (json.added_tokens || []).map((a) => a.id);
  for (let k = 0; k < 200; k++) {
    const ids = [];
    const n = 1 + rnd(12);
    for (let j = 0; j < n; j++) {
      const r = rnd(10);
      if (r < 4 && byteIds.length) ids.push(byteIds[rnd(byteIds.length)]);
      else if (r < 6 && spaceIds.length) ids.push(spaceIds[rnd(spaceIds.length)]);
      else if (r < 7 && addedIds.length) ids.push(addedIds[rnd(addedIds.length)]);
      else ids.push(rnd(nVocab));
    }
    const decoded = await tk.decode(ids, false);
    lines.push(JSON.stringify({decode_ids: ids, decoded, decoded_hex: Buffer.from(decoded, 'utf8').toString('hex')}));
  }
  fs.writeFileSync(outPath, lines.join('\n') + '\n');
  console.log('tokvectors: wrote ' + lines.length + ' vectors to ' + outPath);
}
