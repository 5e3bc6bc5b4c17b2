#!/usr/bin/env node
// tokvectors.js - write tokenizer test vectors with Hugging Face's own
// tokenizer (the `tokenizers` npm package, Rust core), the independent
// reference the C encoder in mamba.h must match id for id.
//
//   cd tools && npm install            # once: installs tokenizers@0.23.2
//   node tools/tokvectors.js ../shared/data/tokenizer.json tests/data/tok [DATA_DIR]
//   node tools/tokvectors.js tests/data/tok/small/tokenizer.json tests/data/tok/small --no-stories
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
