import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Genesis, GenesisDepartment, Info, Session } from "./api";
import type { Anchor, TrustState } from "./trust";

export interface Ctx {
  info: Info;
  /** The genesis the node serves (departments, purposes, salt for subject ids). */
  genesis: Genesis;
  /** What verification trusts (the served genesis or the user's file). */
  anchor: Anchor | null;
  trust: TrustState;
  session: Session;
  depts: GenesisDepartment[];
  /** Opens the record drawer; focus goes back to `from` when it closes. */
  openRecord: (seq: number, from?: HTMLElement | null) => void;
}

export const AppContext = createContext<Ctx | null>(null);

export function useApp(): Ctx {
  const c = useContext(AppContext);
  if (!c) throw new Error("no app context");
  return c;
}
