// The console HTTP JSON API (runtime/api/src/console/openapi.json). Every call carries
// the session cookie; errors come back as {code, name, message}.

export interface Info {
  chain_id: string;
  node_id: string;
  height: number;
  tip_time_ms: number;
  genesis_hash: string;
  sign_in: ("key" | "credential")[];
  credential_department?: string;
}

export interface Challenge {
  challenge: string;
  chain_id: string;
  node_id: string;
  path: string;
  expires_ms: number;
}

export interface Session {
  department: string;
  operator?: string;
  roles: string[];
  auditor: boolean;
  expires_ms: number;
}

export type Action = "read" | "key_release" | "compute" | "compute_result";

export interface AuditRecord {
  seq: number;
  height: number;
  time_ms: number;
  tx_hash: string;
  requester: string;
  operator: string;
  owner: string;
  subject_id: string;
  cert_id: string;
  cert_type: string;
  purpose: string;
  decision: "allow" | "deny";
  reason: string;
  points: number;
  via: string;
  grant_id: number;
  action?: Action;
  request?: number;
}

export interface AuditPage {
  records: AuditRecord[];
  next: number;
  scanned: number;
}

export interface ExportFile {
  format: string;
  chain_id: string;
  query: Record<string, string>;
  records: {
    record: AuditRecord;
    encoded: string;
    proof: { leaf_index: number; tree_size: number; path: string[] };
  }[];
  headers: { height: number; header: string; signature: string }[];
}

export interface RecordDetail {
  record: AuditRecord;
  proof: ExportFile;
  transaction: {
    hash?: string;
    sender?: string;
    operator?: string;
    nonce?: number;
    payload?: string;
    status?: string;
    index?: number;
    error?: string;
  };
  block: {
    height?: number;
    hash?: string;
    time_ms?: number;
    proposer?: string;
    tx_count?: number;
    audit_count?: number;
    audit_root?: string;
    state_root?: string;
  };
}

export interface Flow {
  requester: string;
  owner: string;
  allowed: number;
  denied: number;
  points: number;
}

export interface Flows {
  from_ms: number;
  to_ms: number;
  flows: Flow[];
  scanned: number;
  complete: boolean;
}

export interface Balances {
  balances: { department: string; balance: number }[];
  genesis?: number;
  minted?: number;
  burned?: number;
  height?: number;
}

export interface PointsEvent {
  seq: number;
  time_ms: number;
  height: number;
  balance: number;
  delta: number;
  kind: string;
  counterparty: string;
}

export interface PointsSeries {
  department: string;
  points: PointsEvent[];
  complete?: boolean;
}

export interface Finding {
  rule: "volume" | "off_hours" | "rare_purpose";
  department: string;
  summary: string;
  summary_zh?: string;
  count: number;
  records: number[];
}

/** A validator caught signing two contradicting consensus messages (on chain). */
export interface Equivocation {
  validator: string;
  height: number;
  round: number;
  step: "prevote" | "precommit" | "proposal";
  reporter: string;
  recorded_height: number;
  recorded_time_ms: number;
  tx_hash: string;
}

export interface Insights {
  from_ms: number;
  to_ms: number;
  denied: AuditRecord[];
  findings: Finding[];
  complete?: boolean;
  equivocations: Equivocation[];
}

export interface GenesisDepartment {
  id: string;
  name: string;
  public_key: string;
  roles?: string[];
  operators?: { id: string; name: string; public_key: string }[];
}

export interface Genesis {
  chain_id: string;
  genesis_time_ms: number;
  salt_commitment: string;
  departments: GenesisDepartment[];
  validators: { id: string; department: string; public_key: string; observer?: boolean }[];
  access?: {
    cert_types?: { id: string; name: string; name_zh: string; price: number }[];
    purposes?: { id: string; description: string; legal_basis?: string }[];
    initial_points?: number;
  };
}

/** An error the API answered (or a transport failure, status 0). */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: number,
    public errName: string,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: (() => void) | null = null;

/** Called when a signed-in call answers 401 (the session expired or was ended). */
export function setUnauthorizedHandler(f: (() => void) | null): void {
  onUnauthorized = f;
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === "string") {
      return new ApiError(res.status, Number(j.code ?? 0), String(j.name ?? ""), j.message);
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, 0, `HTTP ${res.status}`, text.trim() || res.statusText);
}

async function send(method: string, path: string, body?: unknown, quiet401 = false): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 0, "NETWORK", e instanceof Error ? e.message : String(e));
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && !quiet401 && onUnauthorized) onUnauthorized();
    throw err;
  }
  return res;
}

/** Query parameters: empty, null and undefined values are left out. */
type Query = object;

export function qs(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

const base = "api/v1";

async function json<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
  const res = await send(method, path, body, quiet401);
  return (await res.json()) as T;
}

export const api = {
  info: () => json<Info>("GET", `${base}/info`),
  /** The genesis exactly as served: its SM3 is the genesis hash. */
  genesisText: async () => (await send("GET", `${base}/genesis`)).text(),
  session: () => json<Session>("GET", `${base}/session`, undefined, true),
  /** The chain salt: to a signed-in session only. */
  salt: () => json<{ salt: string }>("GET", `${base}/salt`),
  challenge: () => json<Challenge>("POST", `${base}/session/challenge`, {}, true),
  signIn: (body: Record<string, unknown>) => json<Session>("POST", `${base}/session`, body, true),
  signOut: () => send("DELETE", `${base}/session`, undefined, true),
  audit: (q: Query) => json<AuditPage>("GET", `${base}/audit${qs(q)}`),
  record: (seq: number) => json<RecordDetail>("GET", `${base}/audit/${seq}`),
  exportFile: (q: Query, format: "json" | "csv") => send("GET", `${base}/audit/export${qs({ ...q, format })}`),
  flows: (q: Query) => json<Flows>("GET", `${base}/flows${qs(q)}`),
  balances: () => json<Balances>("GET", `${base}/points`),
  history: (dept: string, q: Query) =>
    json<PointsSeries>("GET", `${base}/points/${encodeURIComponent(dept)}/history${qs(q)}`),
  insights: (q: Query) => json<Insights>("GET", `${base}/insights${qs(q)}`),
};
