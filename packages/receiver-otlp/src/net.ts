/** Reading the files a `tls` section names, for both servers. */
import { readFile } from 'node:fs/promises';
import { SkeinError } from '@skein/core';
import type { TlsConfig } from './config.ts';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Reads the files a `tls` section names; `where` is its config path for error messages. */
export async function readTlsFiles(tls: TlsConfig, where: string): Promise<TlsFiles> {
  const read = async (key: keyof TlsConfig, file: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new SkeinError('SKEIN_ERR_COMPONENT_START', `${where}::tls::${key}: cannot read ${JSON.stringify(file)}: ${reason}`, {
        cause: err,
      });
    }
  };
  const [cert, key, ca] = await Promise.all([
    read('cert_file', tls.cert_file),
    read('key_file', tls.key_file),
    tls.client_ca_file === undefined ? undefined : read('client_ca_file', tls.client_ca_file),
  ]);
  return ca === undefined ? { cert, key } : { cert, key, ca };
}
