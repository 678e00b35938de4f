import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { grpcClient, grpcExport, makeCerts, metricsProto, send, startOtlp, type Certs } from './helpers.ts';

let certs: Certs;
before(() => {
  certs = makeCerts();
});
after(() => certs?.remove());

function tlsYaml(mutual: boolean): string {
  const ca = mutual ? `, client_ca_file: ${JSON.stringify(certs.caFile)}` : '';
  return `{cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}${ca}}`;
}

const push = (port: number, tls: { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined) =>
  send(port, { body: metricsProto(), headers: { 'content-type': 'application/x-protobuf' }, ...(tls && { tls }) });

test('HTTP over TLS: a client that trusts the CA pushes; a plaintext client gets no answer', async () => {
  const h = await startOtlp({ protocols: `{http: {endpoint: "127.0.0.1:0", tls: ${tlsYaml(false)}}}` });
  try {
    const res = await push(h.httpPort, { ca: certs.ca });
    assert.equal(res.status, 200);
    assert.equal(h.sink.received.length, 1);
    await assert.rejects(push(h.httpPort, undefined));
    assert.equal(h.sink.received.length, 1);
  } finally {
    await h.stop();
  }
});

test('HTTP with mutual TLS: only clients with a certificate from client_ca_file get in', async () => {
  const h = await startOtlp({ protocols: `{http: {endpoint: "127.0.0.1:0", tls: ${tlsYaml(true)}}}` });
  try {
    const ok = await push(h.httpPort, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    assert.equal(ok.status, 200);
    await assert.rejects(push(h.httpPort, { ca: certs.ca }));
    await assert.rejects(push(h.httpPort, { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey }));
    assert.equal(h.sink.received.length, 1);
    assert.equal((await push(h.httpPort, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })).status, 200);
  } finally {
    await h.stop();
  }
});

test('gRPC over TLS and with mutual TLS', async () => {
  const h = await startOtlp({ protocols: `{grpc: {endpoint: "127.0.0.1:0", tls: ${tlsYaml(true)}}}` });
  const trusted = grpcClient(h.grpcPort, { credentials: grpc.credentials.createSsl(certs.ca, certs.clientKey, certs.clientCert) });
  const anonymous = grpcClient(h.grpcPort, { credentials: grpc.credentials.createSsl(certs.ca) });
  const stranger = grpcClient(h.grpcPort, { credentials: grpc.credentials.createSsl(certs.ca, certs.strangerKey, certs.strangerCert) });
  const plaintext = grpcClient(h.grpcPort);
  try {
    assert.equal((await grpcExport(trusted)).error, undefined);
    assert.equal((await grpcExport(anonymous)).error?.code, grpc.status.UNAVAILABLE);
    assert.equal((await grpcExport(stranger)).error?.code, grpc.status.UNAVAILABLE);
    assert.equal((await grpcExport(plaintext)).error?.code, grpc.status.UNAVAILABLE);
    assert.equal(h.sink.received.length, 1);
  } finally {
    for (const c of [trusted, anonymous, stranger, plaintext]) c.close();
    await h.stop();
  }

  const serverOnly = await startOtlp({ protocols: `{grpc: {endpoint: "127.0.0.1:0", tls: ${tlsYaml(false)}}}` });
  const client = grpcClient(serverOnly.grpcPort, { credentials: grpc.credentials.createSsl(certs.ca) });
  try {
    assert.equal((await grpcExport(client)).error, undefined);
  } finally {
    client.close();
    await serverOnly.stop();
  }
});

test('a TLS file that cannot be read fails the start, naming the key and the file', async () => {
  await assert.rejects(
    startOtlp({ protocols: `{http: {endpoint: "127.0.0.1:0", tls: {cert_file: /nonexistent/server.crt, key_file: ${JSON.stringify(certs.serverKey)}}}}` }),
    /receivers::otlp::protocols::http::tls::cert_file: cannot read "\/nonexistent\/server\.crt": no such file/,
  );
});
