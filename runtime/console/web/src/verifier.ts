// The JavaScript side of the browser verifier (runtime/console/verifier): the node's own
// Rust code for export verification, subject ids, signed reads and SM3, compiled to
// wasm32 and reached through its ABI (gc_alloc / gc_free / gc_call, JSON in and out).
// No DOM here: it takes the wasm's URL or bytes.

const OP_VERIFY_EXPORT = 1;
const OP_SUBJECT_ID = 2;
const OP_SIGN_READ = 3;
const OP_SM3 = 4;

interface Exports {
  memory: WebAssembly.Memory;
  gc_alloc(len: number): number;
  gc_free(ptr: number, len: number): void;
  gc_call(op: number, ptr: number, len: number): bigint;
}

export type VerifyResult = { ok: true; records: number; headers: number } | { ok: false; error: string };

export interface SignedRead {
  /** Raw r‖s, hex. */
  signature: string;
  /** SEC1 uncompressed public key, hex. */
  publicKey: string;
}

export interface Verifier {
  /** Checks an audit export (the node's `proof` object) against a genesis JSON text. */
  verifyExport(exportFile: unknown, genesisText: string): VerifyResult;
  /** SM3(chain salt ‖ national ID) with a salt the genesis commits to; throws with the
   *  reason if the ID is not valid or the salt is not the genesis's. */
  subjectId(saltHex: string, commitmentHex: string, nationalId: string): string;
  /** Signs the signed-read bytes of (chain, node, path, time, nonce, request) with a PEM key. */
  signRead(
    pem: string,
    passphrase: string | null,
    read: { chainId: string; nodeId: string; path: string; timeMs: number; nonceHex: string },
    requestHex: string,
  ): SignedRead;
  /** SM3 of a UTF-8 text, hex. */
  sm3Text(text: string): string;
}

type Answer = { ok: true; [k: string]: unknown } | { ok: false; error: string };

/** Instantiates the verifier from a wasm URL (browser) or its bytes (Node). */
export async function loadVerifier(source: string | BufferSource): Promise<Verifier> {
  let exports: Exports | null = null;
  const imports = {
    env: {
      // getrandom's custom backend: key generation never happens here, but signing draws
      // its nonce from it.
      govchain_random(ptr: number, len: number): number {
        if (!exports) return 1;
        try {
          const view = new Uint8Array(exports.memory.buffer, ptr, len);
          for (let off = 0; off < len; off += 65536) {
            crypto.getRandomValues(view.subarray(off, Math.min(len, off + 65536)));
          }
          return 0;
        } catch {
          return 1;
        }
      },
    },
  };
  let instance: WebAssembly.Instance;
  if (typeof source === "string") {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source}: HTTP ${response.status}`);
    instance = (await WebAssembly.instantiate(await response.arrayBuffer(), imports)).instance;
  } else {
    instance = (await WebAssembly.instantiate(source, imports)).instance;
  }
  const ex = instance.exports as unknown as Exports;
  exports = ex;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  const call = (op: number, input: unknown): Answer => {
    const bytes = encoder.encode(JSON.stringify(input));
    const ptr = ex.gc_alloc(bytes.length);
    if (ptr === 0) throw new Error("the verifier is out of memory");
    let packed: bigint;
    try {
      new Uint8Array(ex.memory.buffer, ptr, bytes.length).set(bytes);
      packed = ex.gc_call(op, ptr, bytes.length);
    } finally {
      ex.gc_free(ptr, bytes.length);
    }
    if (packed === 0n) throw new Error("the verifier is out of memory");
    const outPtr = Number(packed >> 32n);
    const outLen = Number(packed & 0xffffffffn);
    // Copy before freeing: memory.buffer may be replaced when memory grows.
    const text = decoder.decode(new Uint8Array(ex.memory.buffer, outPtr, outLen).slice());
    ex.gc_free(outPtr, outLen);
    return JSON.parse(text) as Answer;
  };
  const must = (a: Answer): Record<string, unknown> => {
    if (!a.ok) throw new Error(a.error);
    return a;
  };

  return {
    verifyExport(exportFile, genesisText) {
      const a = call(OP_VERIFY_EXPORT, { export: exportFile, genesis: genesisText });
      return a.ok ? { ok: true, records: Number(a.records), headers: Number(a.headers) } : a;
    },
    subjectId(saltHex, commitmentHex, nationalId) {
      return String(
        must(call(OP_SUBJECT_ID, { salt: saltHex, commitment: commitmentHex, national_id: nationalId })).subject_id,
      );
    },
    signRead(pem, passphrase, read, requestHex) {
      const a = must(
        call(OP_SIGN_READ, {
          pem,
          passphrase,
          chain_id: read.chainId,
          audience: read.nodeId,
          path: read.path,
          time_ms: read.timeMs,
          nonce_hex: read.nonceHex,
          request_hex: requestHex,
        }),
      );
      return { signature: String(a.signature), publicKey: String(a.public_key) };
    },
    sm3Text(text) {
      return String(must(call(OP_SM3, { text })).hash);
    },
  };
}
