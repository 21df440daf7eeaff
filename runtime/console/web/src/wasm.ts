// The in-browser verifier (src/verifier.ts and public/verifier.wasm, built from the
// node's Rust code), loaded once on first use.

import { loadVerifier, type Verifier } from "./verifier";

export type { Verifier } from "./verifier";

let pending: Promise<Verifier> | null = null;

export function getVerifier(): Promise<Verifier> {
  if (pending) return pending;
  const url = new URL("verifier.wasm", document.baseURI).href;
  const p = loadVerifier(url);
  pending = p;
  p.catch(() => {
    pending = null; // let a later call try again
  });
  return p;
}

export function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === "string" ? e : JSON.stringify(e);
}
