#!/usr/bin/env node
// Predicts with a model exported by sk2tensor, from Node.js, with onnxruntime-node alone.
//
//   node predict.mjs MODEL.onnx ROWS.json|ROWS.csv [--method predict,predict_proba]
//
// Everything it needs to know comes from the model file's metadata (see onnx-metadata.mjs): the input's name,
// dtype and width, the feature names (to match JSON objects and CSV headers by name), the output names, the
// class labels, and whether `predict` holds labels or indices into the classes. It prints one JSON object:
//
//   {"model": "...", "rows": 3, "classes": [...], "outputs": {"predict": [...], "predict_proba": [[...], ...]}}
//
// NaN and infinite values print as null (JSON has neither).

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import ort from 'onnxruntime-node';

import { readOnnxMetadata } from './onnx-metadata.mjs';

const MISSING = new Set(['', 'na', 'nan', 'n/a', 'null', 'none']);

class UsageError extends Error {}

/** What a consumer needs from an sk2tensor model's metadata. */
export function modelInfo(path) {
  const meta = readOnnxMetadata(path);
  if (meta.producer !== 'sk2tensor') throw new UsageError(`${path} was not exported by sk2tensor (no sk2tensor metadata)`);
  return {
    inputName: meta.input_name ?? 'input',
    inputDtype: meta.input_dtype, // "float32" or "float64"
    nFeatures: Number(meta.n_features),
    featureNames: meta.feature_names ? JSON.parse(meta.feature_names) : null,
    outputs: JSON.parse(meta.outputs), // sklearn method names: predict, predict_proba, ...
    classes: meta.classes ? JSON.parse(meta.classes) : null,
    predictOutput: meta.predict_output ?? 'label', // "label" or "class_index"
    estimatorClass: meta.estimator_class,
    // Models with string columns: every graph input (numeric `input`, one string input per string column) and
    // the strings that stand for a missing value, which a string tensor cannot hold.
    inputs: meta.inputs ? JSON.parse(meta.inputs) : null,
    missingString: meta.missing_strings ? JSON.parse(meta.missing_strings).nan : null,
  };
}

/** Positions of the model's string columns (empty for a model with the numeric input alone). */
function stringPositions(info) {
  return new Set((info.inputs ?? []).filter((entry) => entry.kind === 'string').map((entry) => entry.position));
}

// A cell of a string column: its text, or the model's missing-value string for a missing cell (JSON null; in a
// CSV file also an empty cell or NA/NaN/null, as pandas reads them).
function text(cell, where, info, csv) {
  if (cell === null || cell === undefined) return info.missingString;
  if (typeof cell !== 'string') throw new UsageError(`${where} holds ${JSON.stringify(cell)}, which is not a string`);
  return csv && MISSING.has(cell.trim().toLowerCase()) ? info.missingString : cell;
}

function number(cell, where) {
  if (typeof cell === 'number') return cell;
  if (cell === null || cell === undefined) return NaN;
  const text = String(cell).trim();
  if (MISSING.has(text.toLowerCase())) return NaN;
  const value = Number(text);
  if (Number.isNaN(value) && !/^[+-]?nan$/i.test(text)) throw new UsageError(`${where} holds ${JSON.stringify(cell)}, which is not a number`);
  return value;
}

function byName(names, info, file) {
  if (!info.featureNames) {
    if (names.length !== info.nFeatures) throw new UsageError(`${file} has ${names.length} columns, the model expects ${info.nFeatures}`);
    return names.map((_, i) => i);
  }
  const position = new Map(names.map((name, i) => [name, i]));
  const missing = info.featureNames.filter((name) => !position.has(name));
  if (missing.length) throw new UsageError(`${file} lacks the column(s) ${missing.join(', ')} the model was fitted on`);
  return info.featureNames.map((name) => position.get(name));
}

/** Rows in the model's column order (numbers, and text for its string columns), from a JSON file (arrays or
 *  objects) or a CSV file. */
export function readRows(file, info) {
  const content = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  const strings = stringPositions(info);
  const csv = extname(file).toLowerCase() !== '.json';
  const parse = (cell, j, where) => (strings.has(j) ? text(cell, where, info, csv) : number(cell, where));
  if (!csv) {
    const data = JSON.parse(content);
    if (!Array.isArray(data)) throw new UsageError(`${file} must hold a JSON array of rows`);
    return data.map((row, i) => {
      if (Array.isArray(row)) {
        if (row.length !== info.nFeatures) throw new UsageError(`${file}: row ${i + 1} has ${row.length} values, the model expects ${info.nFeatures}`);
        return row.map((cell, j) => parse(cell, j, `${file}: row ${i + 1}, column ${j + 1}`));
      }
      if (!info.featureNames) throw new UsageError(`${file}: rows are objects, but the model has no feature names; give arrays`);
      return info.featureNames.map((name, j) => {
        if (!(name in row)) throw new UsageError(`${file}: row ${i + 1} lacks ${JSON.stringify(name)}`);
        return parse(row[name], j, `${file}: row ${i + 1}, ${JSON.stringify(name)}`);
      });
    });
  }
  // CSV without quoted fields: the first line is a header unless every cell of it is a number.
  const lines = content.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (!lines.length) throw new UsageError(`${file} is empty`);
  const first = lines[0].split(',');
  const isNumeric = (cell) => MISSING.has(cell.trim().toLowerCase()) || !Number.isNaN(Number(cell.trim()));
  const header = first.every(isNumeric) ? null : first.map((cell) => cell.trim());
  const order = header ? byName(header, info, file) : [...Array(info.nFeatures).keys()];
  const width = first.length;
  return lines.slice(header ? 1 : 0).map((line, i) => {
    const cells = line.split(',');
    const lineNumber = i + (header ? 2 : 1);
    if (cells.length !== width) throw new UsageError(`${file}: line ${lineNumber} has ${cells.length} fields, expected ${width}`);
    if (!header && width !== info.nFeatures) throw new UsageError(`${file} has ${width} columns, the model expects ${info.nFeatures}`);
    return order.map((j, k) => parse(cells[j], k, `${file}: line ${lineNumber}, column ${header ? JSON.stringify(header[j]) : j + 1}`));
  });
}

function plain(value) {
  return typeof value === 'bigint' ? Number(value) : value;
}

// An output tensor as nested arrays, shaped like sklearn's result; `predict` mapped to class labels.
function asArrays(name, tensor, info) {
  let values = Array.from(tensor.data, plain);
  if (name === 'predict' && info.classes && info.predictOutput === 'class_index') {
    values = values.map((index) => info.classes[index]);
  }
  if (tensor.dims.length === 1) return values;
  const width = tensor.dims[1];
  const rows = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  return rows;
}

/** Runs the model on `rows`; returns {method: nested arrays}. */
export async function predict(modelPath, rows, methods = null) {
  const info = modelInfo(modelPath);
  const wanted = methods ?? info.outputs;
  for (const method of wanted) {
    if (!info.outputs.includes(method)) throw new UsageError(`this model has no ${JSON.stringify(method)} output; it has ${info.outputs.join(', ')}`);
  }
  const Typed = info.inputDtype === 'float64' ? Float64Array : Float32Array;
  const feeds = {};
  // Without string columns: one input of every column. With them, metadata `inputs` says what to feed: the
  // numeric columns (`positions`) as `input`, each string column as a string tensor [rows, 1].
  for (const entry of info.inputs ?? [{ name: info.inputName, kind: 'numeric', positions: [...Array(info.nFeatures).keys()] }]) {
    if (entry.kind === 'string') {
      feeds[entry.name] = new ort.Tensor('string', rows.map((row) => row[entry.position]), [rows.length, 1]);
      continue;
    }
    const width = entry.positions.length;
    const flat = new Typed(rows.length * width);
    rows.forEach((row, i) => entry.positions.forEach((j, k) => { flat[i * width + k] = row[j]; }));
    feeds[entry.name] = new ort.Tensor(info.inputDtype, flat, [rows.length, width]);
  }
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  try {
    const results = await session.run(feeds, wanted);
    return { info, outputs: Object.fromEntries(wanted.map((name) => [name, asArrays(name, results[name], info)])) };
  } finally {
    await session.release();
  }
}

async function main(argv) {
  const args = [...argv];
  let methods = null;
  const at = args.findIndex((arg) => arg === '--method' || arg === '-m');
  if (at >= 0) {
    methods = (args[at + 1] ?? '').split(',').filter(Boolean);
    args.splice(at, 2);
  }
  if (args.length !== 2 || (at >= 0 && !methods.length)) {
    throw new UsageError('usage: node predict.mjs MODEL.onnx ROWS.json|ROWS.csv [--method predict,predict_proba]');
  }
  const [modelPath, rowsPath] = args;
  const rows = readRows(rowsPath, modelInfo(modelPath));
  const { info, outputs } = await predict(modelPath, rows, methods);
  const finite = (key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value);
  process.stdout.write(`${JSON.stringify({ model: modelPath, rows: rows.length, classes: info.classes, outputs }, finite)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('predict.mjs')) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`error: ${String(error.message ?? error).split('\n').join('; ')}\n`);
    process.exit(1);
  });
}
