import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import {
  encodeMetricsResponseJson,
  encodeMetricsResponseProto,
  encodeStatusJson,
  encodeStatusProto,
  RETRY_INFO_TYPE_URL,
} from '../src/codec/index.ts';
import { loadProtoRoot, PROTO_DIR } from './codec-fixtures.ts';

const root = loadProtoRoot();
const Response = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
const Status = root.lookupType('google.rpc.Status');
const RetryInfo = root.lookupType('google.rpc.RetryInfo');
const asObject = (type: protobuf.Type, bytes: Uint8Array) => type.toObject(type.decode(bytes), { longs: String, bytes: Array });

describe('codec: replies', () => {
  it('ExportMetricsServiceResponse is empty when nothing was rejected', () => {
    assert.equal(encodeMetricsResponseProto({ rejectedDataPoints: 0 }).length, 0);
    assert.equal(encodeMetricsResponseJson({ rejectedDataPoints: 0 }), '{}');
  });

  it('ExportMetricsServiceResponse carries partial_success, as protobufjs reads it', () => {
    const reply = { rejectedDataPoints: 3, errorMessage: '3 data points rejected: metric "x": number data point has no value' };
    assert.deepStrictEqual(asObject(Response, encodeMetricsResponseProto(reply)), {
      partialSuccess: { rejectedDataPoints: '3', errorMessage: reply.errorMessage },
    });
    assert.deepStrictEqual(asObject(Response, encodeMetricsResponseProto({ rejectedDataPoints: 2 ** 40 })), {
      partialSuccess: { rejectedDataPoints: String(2 ** 40) },
    });
    // A warning without rejections is still a partial_success.
    assert.deepStrictEqual(asObject(Response, encodeMetricsResponseProto({ rejectedDataPoints: 0, errorMessage: 'slow down' })), {
      partialSuccess: { errorMessage: 'slow down' },
    });
  });

  it('ExportMetricsServiceResponse in JSON writes the int64 count as a string', () => {
    assert.equal(
      encodeMetricsResponseJson({ rejectedDataPoints: 3, errorMessage: 'bad "x"' }),
      '{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"bad \\"x\\""}}',
    );
    const json = JSON.parse(encodeMetricsResponseJson({ rejectedDataPoints: 5 }));
    assert.deepStrictEqual(Response.toObject(Response.fromObject(json), { longs: String }), { partialSuccess: { rejectedDataPoints: '5' } });
  });

  it('google.rpc.Status without a retry delay has no details', () => {
    assert.deepStrictEqual(asObject(Status, encodeStatusProto({ code: 3, message: 'invalid protobuf: field number 0' })), {
      code: 3,
      message: 'invalid protobuf: field number 0',
    });
    assert.equal(encodeStatusJson({ code: 3, message: 'bad' }), '{"code":3,"message":"bad"}');
  });

  it('google.rpc.Status carries RetryInfo as an Any', () => {
    const status = Status.decode(encodeStatusProto({ code: 14, message: 'queue full', retryDelayMs: 1500 })) as unknown as {
      code: number;
      message: string;
      details: { type_url?: string; typeUrl?: string; value: Uint8Array }[];
    };
    assert.equal(status.code, 14);
    assert.equal(status.message, 'queue full');
    assert.equal(status.details.length, 1);
    assert.equal(status.details[0].typeUrl ?? status.details[0].type_url, RETRY_INFO_TYPE_URL);
    assert.equal(RETRY_INFO_TYPE_URL, 'type.googleapis.com/google.rpc.RetryInfo');
    assert.deepStrictEqual(asObject(RetryInfo, status.details[0].value), { retryDelay: { seconds: '1', nanos: 500_000_000 } });

    const whole = Status.decode(encodeStatusProto({ code: 8, message: 'm', retryDelayMs: 30_000 })) as unknown as { details: { value: Uint8Array }[] };
    assert.deepStrictEqual(asObject(RetryInfo, whole.details[0].value), { retryDelay: { seconds: '30' } });
  });

  it('google.rpc.Status in JSON writes RetryInfo with @type and a Duration string', () => {
    assert.equal(
      encodeStatusJson({ code: 14, message: 'queue full', retryDelayMs: 1500 }),
      '{"code":14,"message":"queue full","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}',
    );
    const delay = (ms: number) => JSON.parse(encodeStatusJson({ code: 14, message: '', retryDelayMs: ms })).details[0].retryDelay;
    assert.deepStrictEqual([delay(2000), delay(0), delay(0.25), delay(1.0005), delay(1.000001)], ['2s', '0s', '0.000250s', '0.001000500s', '0.001000001s']);
  });
});

describe('codec: the .proto files', () => {
  it('all parse, including the well-known types protobufjs would otherwise take from its bundle', () => {
    const files = (readdirSync(PROTO_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.proto'));
    assert.ok(files.length >= 8, `${files.length} files`);
    for (const f of files) protobuf.parse(readFileSync(join(PROTO_DIR, f), 'utf8'), { keepCase: true });
    const mine = protobuf.parse(readFileSync(join(PROTO_DIR, 'google/protobuf/duration.proto'), 'utf8')).root.lookupType('google.protobuf.Duration');
    const bundled = root.lookupType('google.protobuf.Duration');
    assert.deepStrictEqual(
      mine.fieldsArray.map((f) => [f.id, f.type]),
      bundled.fieldsArray.map((f) => [f.id, f.type]),
    );
  });
});
