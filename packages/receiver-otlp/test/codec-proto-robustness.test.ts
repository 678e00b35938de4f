import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { decodeMetricsRequestProto, OtlpDecodeError, type DecodeResult } from '../src/codec/index.ts';
import { concat, encodeRequest, loadProtoRoot, prng, REQUEST_TYPE, richExpected, richRequestObject, sdkProto, wire } from './codec-fixtures.ts';

const root = loadProtoRoot();

/** Decodes or throws OtlpDecodeError; any other outcome fails the test. */
function decodeOrReject(bytes: Uint8Array, label: string): DecodeResult | OtlpDecodeError {
  try {
    return decodeMetricsRequestProto(bytes);
  } catch (err) {
    if (err instanceof OtlpDecodeError) return err;
    assert.fail(`${label}: threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  }
}

function decodeError(bytes: Uint8Array): string {
  const r = decodeOrReject(bytes, 'input');
  assert.ok(r instanceof OtlpDecodeError, 'expected an OtlpDecodeError');
  return r.message;
}

/** A request with every message type the decoder knows, as a protobufjs object. */
function everyMessage(): Record<string, unknown> {
  const request = richRequestObject() as { resourceMetrics: { scopeMetrics: { metrics: object[] }[] }[] };
  const exemplar = { timeUnixNano: '5', asDouble: 1, filteredAttributes: [{ key: 'x', value: { intValue: '1' } }] };
  request.resourceMetrics[0].scopeMetrics[0].metrics.push(
    {
      name: 'g',
      gauge: {
        dataPoints: [
          {
            timeUnixNano: '9',
            asDouble: 1.5,
            exemplars: [exemplar],
            attributes: [
              { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { kvlistValue: { values: [{ key: 'k', value: { bytesValue: Buffer.from([1, 2]) } }] } }] } } },
              { key: 'd', value: { doubleValue: 2.5 } },
            ],
          },
        ],
      },
    },
    {
      name: 'h',
      histogram: {
        aggregationTemporality: 2,
        dataPoints: [{ count: '3', sum: 3, min: 1, max: 2, bucketCounts: ['1', '2'], explicitBounds: [1.5], exemplars: [exemplar], flags: 1 }],
      },
    },
    {
      name: 'e',
      exponentialHistogram: {
        dataPoints: [{ count: '2', negative: { offset: -1, bucketCounts: ['2'] }, exemplars: [exemplar], min: -1, max: -0.5 }],
      },
    },
  );
  return request;
}

/**
 * A copy of the schema where every OTLP message has four more fields, one per wire type, at
 * numbers the real schema does not use: what a newer sender's request looks like to us.
 */
function rootWithExtraFields(): protobuf.Root {
  const extended = loadProtoRoot();
  const types: protobuf.Type[] = [];
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) types.push(nested);
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested);
    }
  };
  walk(extended.lookup('opentelemetry') as protobuf.Namespace);
  for (const t of types) {
    t.add(new protobuf.Field('zzBytes', 536_870_911, 'bytes'));
    t.add(new protobuf.Field('zzFixed64', 5001, 'fixed64'));
    t.add(new protobuf.Field('zzVarint', 5002, 'uint64'));
    t.add(new protobuf.Field('zzFixed32', 5003, 'fixed32'));
  }
  extended.resolveAll();
  return extended;
}

/** Sets the extra fields on every message object in `value`, walking it by its type. */
function fillExtraFields(type: protobuf.Type, value: Record<string, unknown>): number {
  let messages = 1;
  Object.assign(value, { zzBytes: Buffer.from('from the future'), zzFixed64: '18446744073709551615', zzVarint: '300', zzFixed32: 7 });
  for (const f of type.fieldsArray) {
    const v = value[f.name];
    if (v === undefined || !(f.resolvedType instanceof protobuf.Type)) continue;
    for (const item of Array.isArray(v) ? v : [v]) messages += fillExtraFields(f.resolvedType, item as Record<string, unknown>);
  }
  return messages;
}

describe('codec (protobuf): forward compatibility', () => {
  it('skips unknown fields of every wire type in every message', () => {
    const plain = decodeMetricsRequestProto(encodeRequest(root, everyMessage()));
    const extended = rootWithExtraFields();
    const object = everyMessage();
    const messages = fillExtraFields(extended.lookupType(REQUEST_TYPE), object);
    assert.ok(messages > 40, `extra fields set on ${messages} messages`);
    const bytes = encodeRequest(extended, object);
    assert.ok(bytes.length > encodeRequest(root, everyMessage()).length + messages * 20, 'the extra fields are on the wire');
    assert.deepStrictEqual(decodeMetricsRequestProto(bytes), plain);
    assert.deepStrictEqual(plain.batch.resourceMetrics[0].scopeMetrics[0].metrics.slice(0, 3), richExpected().resourceMetrics[0].scopeMetrics[0].metrics);
  });

  it('skips an unknown group field (wire types 3 and 4)', () => {
    // field 9, start group; inside: field 1 varint 1, field 2 nested group; end group 9
    const group = Uint8Array.from([0x4b, 0x08, 0x01, 0x13, 0x08, 0x02, 0x14, 0x4c]);
    const metric = wire.message(2, wire.string(1, 'g'), wire.message(5, wire.message(1, wire.double(4, 1))));
    const bytes = concat(group, wire.message(1, wire.message(2, metric, group)));
    const r = decodeMetricsRequestProto(bytes);
    assert.equal(r.batch.resourceMetrics[0].scopeMetrics[0].metrics[0].name, 'g');
    assert.match(decodeError(Uint8Array.from([0x4b, 0x08, 0x01])), /^invalid protobuf: /);
    assert.match(decodeError(Uint8Array.from([0x4b, 0x08, 0x01, 0x54])), /^invalid protobuf: invalid end group tag/);
  });
});

describe('codec (protobuf): malformed input', () => {
  it('names the field and offset of a wrong wire type', () => {
    assert.equal(
      decodeError(wire.varint(1, 1)),
      'invalid protobuf: wrong wire type 0 for ExportMetricsServiceRequest.resource_metrics (field 1, message) at offset 0',
    );
    const point = wire.varint(3, 5); // time_unix_nano is fixed64, not a varint
    const bytes = wire.message(1, wire.message(2, wire.message(2, wire.message(5, wire.message(1, point)))));
    assert.equal(
      decodeError(bytes),
      `invalid protobuf: wrong wire type 0 for NumberDataPoint.time_unix_nano (field 3, fixed64) at offset ${bytes.length - point.length}`,
    );
    const name = wire.fixed64(1, 7n);
    const metric = wire.message(1, wire.message(2, wire.message(2, name)));
    assert.equal(decodeError(metric), `invalid protobuf: wrong wire type 1 for Metric.name (field 1, string) at offset ${metric.length - name.length}`);
    const anyValue = wire.message(4, Uint8Array.from([1, 2]));
    const attr = wire.message(1, wire.message(1, wire.message(1, wire.string(1, 'k'), wire.message(2, anyValue))));
    assert.equal(
      decodeError(attr),
      `invalid protobuf: wrong wire type 2 for AnyValue.double_value (field 4, double) at offset ${attr.length - anyValue.length}`,
    );
  });

  it('rejects field number 0 and the wire types 4, 6 and 7 outside a group', () => {
    assert.equal(decodeError(Uint8Array.from([0x02, 0x00])), 'invalid protobuf: field number 0 in ExportMetricsServiceRequest at offset 0');
    assert.equal(decodeError(Uint8Array.from([0x17, 0x00])), 'invalid protobuf: invalid wire type 7 for field 2 in ExportMetricsServiceRequest at offset 0');
    assert.equal(decodeError(Uint8Array.from([0x14])), 'invalid protobuf: invalid wire type 4 for field 2 in ExportMetricsServiceRequest at offset 0');
  });

  it('refuses a length beyond the data instead of allocating it', () => {
    assert.equal(
      decodeError(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07])),
      'invalid protobuf: truncated length-delimited field 1 (ExportMetricsServiceRequest.resource_metrics) at offset 6: 2147483647 bytes declared, 0 left',
    );
    // A nested message may not run past the end of the one that holds it.
    const inner = concat(wire.tag(2, 2), Uint8Array.from([10]), new Uint8Array(3));
    const bytes = concat(wire.tag(1, 2), Uint8Array.from([inner.length]), inner, new Uint8Array(20));
    assert.equal(
      decodeError(bytes),
      'invalid protobuf: truncated length-delimited field 2 (ResourceMetrics.scope_metrics) at offset 4: 10 bytes declared, 3 left',
    );
  });

  it('rejects span and trace ids of the wrong length', () => {
    const id = wire.message(4, Uint8Array.from([1, 2, 3]));
    const bytes = wire.message(1, wire.message(2, wire.message(2, wire.string(1, 'g'), wire.message(5, wire.message(1, wire.double(4, 1), wire.message(5, id))))));
    assert.equal(decodeError(bytes), `invalid protobuf: Exemplar.span_id must be 8 bytes, got 3 at offset ${bytes.length - id.length + 1}`);
  });

  it('limits attribute value nesting to 32 levels', () => {
    const nested = (levels: number, kind: 'array' | 'kvlist'): Uint8Array => {
      let value = wire.string(1, 'leaf');
      for (let i = 0; i < levels; i++) {
        value = kind === 'array' ? wire.message(5, wire.message(1, value)) : wire.message(6, wire.message(1, wire.string(1, 'k'), wire.message(2, value)));
      }
      return wire.message(1, wire.message(1, wire.message(1, wire.string(1, 'deep'), wire.message(2, value))));
    };
    for (const kind of ['array', 'kvlist'] as const) {
      const ok = decodeMetricsRequestProto(nested(32, kind));
      let v: unknown = ok.batch.resourceMetrics[0].resource.attributes.deep;
      for (let i = 0; i < 32; i++) v = kind === 'array' ? (v as unknown[])[0] : (v as Record<string, unknown>).k;
      assert.equal(v, 'leaf');
      assert.match(decodeError(nested(33, kind)), /^invalid protobuf: attribute value nested deeper than 32 levels at offset \d+$/);
      assert.match(decodeError(nested(2000, kind)), /^invalid protobuf: attribute value nested deeper than 32 levels/);
    }
  });
});

describe('codec (protobuf): damaged requests never crash or hang', { timeout: 60_000 }, () => {
  const real = [sdkProto(), encodeRequest(root, everyMessage())];

  it('every truncation of a real request decodes or is an OtlpDecodeError', () => {
    for (const bytes of real) {
      let rejected = 0;
      for (let len = 0; len < bytes.length; len++) {
        if (decodeOrReject(bytes.subarray(0, len), `prefix of ${len} bytes`) instanceof OtlpDecodeError) rejected++;
      }
      // Only prefixes that end exactly between two top-level messages are whole requests.
      assert.ok(rejected >= bytes.length - 2, `${rejected} of ${bytes.length} prefixes rejected`);
    }
  });

  it('random byte flips in a real request decode or are an OtlpDecodeError', () => {
    const random = prng(20_250_115);
    for (const original of real) {
      for (let i = 0; i < 3000; i++) {
        const bytes = Uint8Array.from(original);
        for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        decodeOrReject(bytes, `mutation ${i}`);
      }
    }
  });

  it('random garbage decodes or is an OtlpDecodeError', () => {
    const random = prng(42);
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256));
      if (decodeOrReject(bytes, `garbage ${i}`) instanceof OtlpDecodeError) rejected++;
    }
    assert.ok(rejected > 4500, `${rejected} of 5000 rejected`);
  });
});
