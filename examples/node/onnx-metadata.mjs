// Reads the custom metadata (ModelProto.metadata_props) of an .onnx file.
//
// onnxruntime-node's InferenceSession exposes input and output metadata but not the model's custom metadata,
// so this reads it from the file itself: a minimal protobuf reader that walks the top-level fields of the
// ModelProto, skips the graph (and every other field) by its length, and decodes the field-14 entries
// (StringStringEntryProto: key = 1, value = 2). It reads only the bytes it needs, never the whole file.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const METADATA_PROPS = 14; // ModelProto.metadata_props
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

class ProtobufError extends Error {}

// A varint from `bytes` at `pos`: [value, position after it]. Numbers stay exact up to 2^53.
function varint(bytes, pos, end = bytes.length) {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < end && i < pos + 10; i += 1) {
    const byte = bytes[i];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new ProtobufError('truncated or malformed varint');
}

// Skips a field of wire type `wire` whose payload starts at `pos`: the position after it.
function skip(bytes, wire, pos) {
  if (wire === WIRE_VARINT) return varint(bytes, pos)[1];
  if (wire === WIRE_FIXED64) return pos + 8;
  if (wire === WIRE_FIXED32) return pos + 4;
  if (wire === WIRE_LENGTH_DELIMITED) {
    const [length, start] = varint(bytes, pos);
    return start + length;
  }
  throw new ProtobufError(`unsupported protobuf wire type ${wire}`);
}

// One StringStringEntryProto: [key, value].
function entry(bytes) {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let key = '';
  let value = '';
  let pos = 0;
  while (pos < bytes.length) {
    const [tag, next] = varint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === WIRE_LENGTH_DELIMITED && (field === 1 || field === 2)) {
      const [length, start] = varint(bytes, next);
      if (start + length > bytes.length) throw new ProtobufError('truncated metadata entry');
      const text = decoder.decode(bytes.subarray(start, start + length));
      if (field === 1) key = text;
      else value = text;
      pos = start + length;
    } else {
      pos = skip(bytes, wire, next);
    }
  }
  return [key, value];
}

// Reads `length` bytes at `position` of the open file `fd`.
function readAt(fd, position, length) {
  const bytes = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) throw new ProtobufError('the file ends inside a field (truncated?)');
    done += n;
  }
  return bytes;
}

/**
 * The custom metadata of the .onnx file at `path`, as an object of strings.
 * Throws an Error naming the file when it is not a readable ONNX model.
 */
export function readOnnxMetadata(path) {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const props = {};
    let pos = 0;
    while (pos < size) {
      const head = readAt(fd, pos, Math.min(20, size - pos)); // a tag and a length: two varints at most
      const [tag, afterTag] = varint(head, 0);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw new ProtobufError('field number 0');
      if (wire === WIRE_LENGTH_DELIMITED) {
        const [length, start] = varint(head, afterTag);
        if (pos + start + length > size) throw new ProtobufError('the file ends inside a field (truncated?)');
        if (field === METADATA_PROPS) {
          const [key, value] = entry(readAt(fd, pos + start, length));
          props[key] = value;
        }
        pos += start + length;
      } else {
        pos += skip(head, wire, afterTag);
      }
    }
    if (pos !== size) throw new ProtobufError('the file ends inside a field (truncated?)');
    return props;
  } catch (error) {
    if (error instanceof ProtobufError) throw new Error(`${path} is not a readable ONNX model (${error.message})`);
    throw error;
  } finally {
    closeSync(fd);
  }
}
