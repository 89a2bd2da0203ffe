#!/usr/bin/env node
// Run an lstm-deploy ONNX export from Node.js: padded sequences in, predictions with class names out.
//
//   npm install --ignore-scripts            # once, in this folder (onnxruntime-node ships its CPU binaries)
//   node predict.js model.fp32.onnx inputs.json
//
// inputs.json holds {"x": [...]}: one sequence or a list of sequences, padded exactly as for the Keras
// model (masked models find their padding themselves). The manifest model.fp32.onnx.json must sit beside
// the model: it names the input/output tensors, the input dtype and shape, the class names and, for
// artifacts exported with --lengths-input, the extra `lengths` input. Prints {"y": [...], "labels": [...]}.
//
// Like lstm_deploy.runtime, inputs are RAW values by default: the manifest's `preprocessing` (a recipe's
// per-channel z-score, forecasting center/scale or window scaling, text tokenizer) is applied here, and
// forecasting outputs are mapped back to the series' units. `--prepared` says x is already prepared.
//
// Like lstm_deploy_runtime, the manifest is validated before anything runs (bounded size and depth, names,
// finite numbers, named tokenizer patterns only) and the model file must have the SHA-256 the manifest
// records; `--no-verify` skips that check for an artifact edited on purpose.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const ort = require("onnxruntime-node");

class InputError extends Error {}

// The same rules as lstm_deploy_runtime (docs/runtime.md): a bounded manifest, the newest format this client
// reads, names that are never paths, finite numbers, and tokenizers from a fixed set of named patterns --
// never a regex read from the file. Each pattern is one repeated character class: linear time.
const FORMAT_VERSION = 2;
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 32;
const NAMED_PATTERNS = {
  words: { python: "[a-z0-9']+", js: /[a-z0-9']+/g },
  unicode_words: { python: "[\\w']+", js: /[\p{L}\p{N}_']+/gu },
  non_space: { python: "\\S+", js: /\S+/g },
};
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

function depth(value) {
  let deepest = 0;
  const todo = [[value, 1]];
  while (todo.length) {
    const [v, d] = todo.pop();
    if (v !== null && typeof v === "object") {
      deepest = Math.max(deepest, d);
      if (d > MAX_DEPTH) return d;
      for (const c of Object.values(v)) todo.push([c, d + 1]);
    }
  }
  return deepest;
}

function tokenPattern(tok) {
  const known = Object.keys(NAMED_PATTERNS).join(", ");
  if (tok.pattern !== undefined) {
    if (!Object.hasOwn(NAMED_PATTERNS, tok.pattern)) throw new InputError(`manifest preprocessing.tokenizer.pattern is ${JSON.stringify(tok.pattern).slice(0, 60)}; expected one of the named patterns ${known}`);
    return NAMED_PATTERNS[tok.pattern].js;
  }
  const text = tok.token_pattern === undefined ? NAMED_PATTERNS.words.python : tok.token_pattern; // manifests of 0.2.0 carry the text
  const named = Object.values(NAMED_PATTERNS).find((p) => p.python === text);
  if (!named) throw new InputError(`manifest preprocessing.tokenizer.token_pattern ${JSON.stringify(text).slice(0, 60)} is not one of the named patterns (${known}); re-export the model`);
  return named.js;
}

function checkManifest(m, path) {
  const bad = (what) => new InputError(`manifest ${path}: ${what} -- re-export the model`);
  if (m === null || typeof m !== "object" || Array.isArray(m)) throw bad("must be a JSON object");
  if (depth(m) > MAX_DEPTH) throw bad(`nested deeper than ${MAX_DEPTH} levels`);
  const version = m.format_version === undefined ? 1 : m.format_version;
  if (!Number.isInteger(version) || version < 1) throw bad(`format_version is ${JSON.stringify(version)}; expected a whole number`);
  if (version > FORMAT_VERSION) {
    throw new InputError(`manifest ${path} has format_version ${version} (written by lstm-deploy ${m.lstm_deploy_version}); this client reads format ${FORMAT_VERSION} and older -- update it`);
  }
  for (const key of ["input_name", "output_name"]) {
    if (typeof m[key] !== "string" || !NAME.test(m[key])) throw bad(`${key} is ${JSON.stringify(m[key])}; expected a name (not a path)`);
  }
  if (!Array.isArray(m.inputs) || !m.inputs.every((i) => i && typeof i === "object" && NAME.test(i.name) && Array.isArray(i.shape))) {
    throw bad("inputs must be a list of {name, shape, dtype}");
  }
  if (m.labels != null && !(Array.isArray(m.labels) && m.labels.every((l) => typeof l === "string" || Number.isFinite(l)))) {
    throw bad("labels must be a list of strings or finite numbers");
  }
  const lengths = m.masking && m.masking.lengths_input;
  if (lengths && !m.inputs.some((i) => i.name === lengths)) throw bad(`masking.lengths_input names ${JSON.stringify(lengths)}, which is not an input`);
  const pre = m.preprocessing;
  if (pre) {
    const finite = (v) => typeof v === "number" && Number.isFinite(v);
    for (const key of ["center", "scale"]) if (pre[key] !== undefined && !finite(pre[key])) throw bad(`preprocessing.${key} must be a finite number`);
    for (const key of ["mean", "std"]) if (pre[key] !== undefined && !(Array.isArray(pre[key]) && pre[key].every(finite))) throw bad(`preprocessing.${key} must be finite numbers`);
    if (pre.tokenizer) tokenPattern(pre.tokenizer);
  }
  if (m.artifact_sha256 !== undefined && !/^[0-9a-f]{64}$/.test(m.artifact_sha256)) throw bad("artifact_sha256 must be 64 hexadecimal digits");
}

function readManifest(modelPath) {
  const path = `${modelPath}.json`;
  if (!fs.existsSync(path)) throw new InputError(`manifest ${path} not found; keep the .json written by lstm-deploy export beside the model`);
  const size = fs.statSync(path).size;
  if (size > MAX_MANIFEST_BYTES) throw new InputError(`manifest ${path} is ${size} bytes; a manifest is at most ${MAX_MANIFEST_BYTES} bytes`);
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path, "utf8"));
  } catch (err) {
    throw new InputError(`manifest ${path} is not valid JSON (${err.message.split("\n")[0]}); re-export the model`);
  }
  checkManifest(manifest, path);
  if (manifest.format !== "onnx") throw new InputError(`${modelPath} is a ${manifest.format} artifact; this client runs .onnx exports`);
  if (manifest.streaming) throw new InputError(`${modelPath} is a streaming (single-step) artifact; export without --streaming`);
  return manifest;
}

// The artifact's bytes, checked against the SHA-256 its manifest records (verify=false: edited on purpose).
function readArtifact(modelPath, manifest, verify) {
  const data = fs.readFileSync(modelPath);
  if (verify && manifest.artifact_sha256) {
    const found = crypto.createHash("sha256").update(data).digest("hex");
    if (found !== manifest.artifact_sha256) {
      throw new InputError(`artifact ${modelPath} has SHA-256 ${found.slice(0, 16)}... but its manifest records ${manifest.artifact_sha256.slice(0, 16)}...: `
        + "the file is not the one that was exported -- restore it or re-export (--no-verify skips this check)");
    }
  }
  return data;
}

function shapeOf(value) {
  const shape = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  return shape;
}

// Flatten nested arrays row by row; false when a row has the wrong length. Values must be finite numbers.
function flatten(value, shape, out) {
  if (shape.length === 0) {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new InputError(`x holds ${JSON.stringify(value)}; expected finite numbers`);
    out.push(value);
    return true;
  }
  if (!Array.isArray(value) || value.length !== shape[0]) return false;
  return value.every((v) => flatten(v, shape.slice(1), out));
}

// Valid steps per post-padded sequence (only artifacts exported with --lengths-input need them).
function lengthsFromPadding(flat, n, steps, stepSize, masking) {
  const lengths = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let length = 0;
    for (let t = 0; t < steps; t++) {
      const step = flat.slice((i * steps + t) * stepSize, (i * steps + t + 1) * stepSize);
      const real = masking.kind === "mask_zero" ? step[0] !== 0 : step.some((v) => v !== masking.mask_value);
      if (real && length !== t) throw new InputError(`sequence ${i} has padding before real steps; this artifact expects post-padded sequences`);
      if (real) length = t + 1;
    }
    lengths[i] = length;
  }
  return lengths;
}

// Raw inputs -> what the model takes, as the manifest's preprocessing records (mirrors runtime.prepare_inputs).
function prepare(x, pre) {
  if (pre.tokenizer) {
    const tok = pre.tokenizer;
    const texts = typeof x === "string" ? [x] : x;
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) return x; // token ids pass through
    const index = new Map(tok.words.map((w, i) => [w, i + 2]));
    const pattern = tokenPattern(tok);
    const rows = texts.map((t) => {
      const ids = ((tok.lowercase === false ? t : t.toLowerCase()).match(pattern) || []).map((w) => index.get(w) ?? (tok.oov_id ?? 1));
      return Array.from({ length: tok.max_len }, (_, i) => (i < ids.length ? ids[i] : tok.pad_id ?? 0));
    });
    return typeof x === "string" ? rows[0] : rows;
  }
  const map = (v, f) => (Array.isArray(v) ? v.map((e) => map(e, f)) : f(v));
  if (pre.mean && pre.std) { // per channel; all-zero (padded) steps stay zero
    const padded = String(pre.padding || "").startsWith("post");
    const step = (s) => (padded && s.every((v) => v === 0) ? s : s.map((v, c) => (v - pre.mean[c]) / pre.std[c]));
    const walk = (v) => (Array.isArray(v[0]) ? v.map(walk) : step(v));
    return walk(x);
  }
  if (pre.normalize === "window") return x; // per window: windowScale (it needs each window's last value)
  if (pre.center !== undefined && pre.scale !== undefined) return map(x, (v) => (v - pre.center) / pre.scale);
  return x;
}

// Window scaling (x / x[-1] - 1 per window) and the outputs back in raw units (mirrors runtime.finish_outputs).
function windowScale(batch, pre) {
  if (pre.normalize !== "window") return { batch, last: null };
  const last = batch.map((w) => [].concat(w[w.length - 1])[0]);
  if (last.some((v) => v === 0)) throw new InputError("window scaling divides by each window's last value; a window ends in 0");
  const scale = (v, l) => (Array.isArray(v) ? v.map((e) => scale(e, l)) : v / l - 1);
  return { batch: batch.map((w, i) => scale(w, last[i])), last };
}

function finish(rows, pre, last) {
  if (pre.normalize === "window") return rows.map((r, i) => r.map((p) => last[i] * (1 + p)));
  if (["zscore", "minmax", "none"].includes(pre.normalize) && pre.center !== undefined) return rows.map((r) => r.map((p) => p * pre.scale + pre.center));
  return rows;
}

function tensorFor(flat, dtype, dims) {
  if (dtype === "float32") return new ort.Tensor("float32", Float32Array.from(flat), dims);
  if (dtype === "int32") return new ort.Tensor("int32", Int32Array.from(flat), dims);
  if (dtype === "int64") return new ort.Tensor("int64", BigInt64Array.from(flat.map((v) => BigInt(v))), dims);
  throw new InputError(`input dtype ${dtype} is not handled by this client`);
}

async function predict(modelPath, x, { prepared = false, verify = true } = {}) {
  const manifest = readManifest(modelPath);
  const artifact = readArtifact(modelPath, manifest, verify);
  const pre = prepared ? null : manifest.preprocessing || null;
  if (pre) x = prepare(x, pre);
  const input = manifest.inputs.find((i) => i.name === manifest.input_name);
  const sample = input.shape.slice(1);
  const single = shapeOf(x).length === sample.length;
  const scaled = pre && Array.isArray(x) ? windowScale(single ? [x] : x, pre) : { batch: single ? [x] : x, last: null };
  const batch = scaled.batch;
  const flat = [];
  if (!Array.isArray(x) || !flatten(batch, [batch.length, ...sample], flat)) {
    throw new InputError(`x has shape [${shapeOf(x)}] (or ragged rows); expected one sequence [${sample}] or a list of them`);
  }
  if (input.dtype !== "float32" && flat.some((v) => !Number.isInteger(v))) throw new InputError("x holds fractions; this model takes token ids");
  const feeds = { [manifest.input_name]: tensorFor(flat, input.dtype, [batch.length, ...sample]) };
  const masking = manifest.masking;
  if (masking && masking.lengths_input) {
    const stepSize = sample.slice(1).reduce((a, b) => a * b, 1);
    feeds[masking.lengths_input] = new ort.Tensor("int32", lengthsFromPadding(flat, batch.length, sample[0], stepSize, masking), [batch.length]);
  }
  const session = await ort.InferenceSession.create(artifact); // the bytes whose SHA-256 was checked
  const result = await session.run(feeds);
  const out = result[manifest.output_name];
  const width = out.dims.slice(1).reduce((a, b) => a * b, 1);
  const rows = [];
  for (let i = 0; i < batch.length; i++) rows.push(Array.from(out.data.slice(i * width, (i + 1) * width)));
  if (pre) rows.splice(0, rows.length, ...finish(rows, pre, scaled.last));
  const answer = { y: single ? rows[0] : rows };
  if (manifest.labels && out.dims.length === 2 && width === manifest.labels.length) {
    const names = rows.map((r) => manifest.labels[r.indexOf(Math.max(...r))]);
    answer[single ? "label" : "labels"] = single ? names[0] : names;
  }
  return answer;
}

async function main(argv) {
  const prepared = argv.includes("--prepared");
  const verify = !argv.includes("--no-verify");
  argv = argv.filter((a) => a !== "--prepared" && a !== "--no-verify");
  if (argv.length !== 2) {
    console.error("usage: node predict.js MODEL.onnx INPUTS.json [--prepared] [--no-verify]   (INPUTS.json: {\"x\": [...]}, raw values or texts)");
    return 2;
  }
  try {
    const body = JSON.parse(fs.readFileSync(argv[1], "utf8"));
    console.log(JSON.stringify(await predict(argv[0], Array.isArray(body) ? body : body.x, { prepared, verify })));
    return 0;
  } catch (err) {
    console.error(`Error: ${err.message.split("\n")[0]}`);
    return err instanceof InputError || err instanceof SyntaxError ? 2 : 1;
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));

module.exports = { predict, NAMED_PATTERNS, FORMAT_VERSION };
