// The trust anchor: which genesis document the browser verifies against, and whether its
// hash is the one this browser trusted before (kept in localStorage per chain id).

import type { Genesis } from "./api";

export type TrustState =
  | { kind: "pending" }
  | { kind: "first"; hash: string }
  | { kind: "ok"; hash: string; since: number }
  | { kind: "changed"; hash: string; before: string; since: number }
  | { kind: "mismatch"; hash: string; claimed: string }
  | { kind: "own"; hash: string; name: string; matchesNode: boolean }
  | { kind: "error"; message: string };

export interface Anchor {
  /** The genesis JSON text verification uses. */
  text: string;
  genesis: Genesis;
  hash: string;
  /** "served" or the user's file name. */
  source: "served" | string;
}

const TRUSTED = "govchain.console.trusted.";
const OWN = "govchain.console.genesis.";

interface Stored {
  hash: string;
  since: number;
}

function read<T>(key: string): T | null {
  try {
    const v = localStorage.getItem(key);
    return v ? (JSON.parse(v) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, v: unknown): void {
  try {
    if (v === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(v));
  } catch {
    /* storage full or blocked: the page still works, without memory */
  }
}

/**
 * Checks the served genesis: its SM3 (computed here) must be the hash the node reports,
 * and the hash this browser first trusted for the chain. The first one seen is stored.
 */
export function checkServed(chainId: string, computed: string, claimed: string): TrustState {
  if (computed.toLowerCase() !== claimed.toLowerCase()) {
    return { kind: "mismatch", hash: computed, claimed };
  }
  const stored = read<Stored>(TRUSTED + chainId);
  if (!stored) {
    write(TRUSTED + chainId, { hash: computed, since: Date.now() });
    return { kind: "first", hash: computed };
  }
  if (stored.hash.toLowerCase() !== computed.toLowerCase()) {
    return { kind: "changed", hash: computed, before: stored.hash, since: stored.since };
  }
  return { kind: "ok", hash: computed, since: stored.since };
}

/** The user accepts the current served genesis as the trusted one. */
export function acceptServed(chainId: string, hash: string): void {
  write(TRUSTED + chainId, { hash, since: Date.now() });
}

/** A genesis file the user loaded, kept so that it is used again next time. */
export function loadOwn(chainId: string): { name: string; text: string } | null {
  return read<{ name: string; text: string }>(OWN + chainId);
}

export function saveOwn(chainId: string, own: { name: string; text: string } | null): void {
  write(OWN + chainId, own);
}

/** Trusted states: verification results can be relied on. */
export function isTrusted(s: TrustState): boolean {
  return s.kind === "ok" || s.kind === "first" || (s.kind === "own" && s.matchesNode);
}
