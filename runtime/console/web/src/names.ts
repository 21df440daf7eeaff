// Display names of departments and certificate types in the current language.

import type { AuditRecord, Genesis, GenesisDepartment } from "./api";
import { lang, t } from "./i18n";

const CJK = /[\u3400-\u9fff]/;

/** Genesis names read "English name (中文名)"; returns both parts. */
export function splitName(name: string): { en: string; zh: string } {
  const i = name.lastIndexOf(" (");
  if (i > 0 && name.endsWith(")")) {
    const zh = name.slice(i + 2, -1);
    if (CJK.test(zh)) return { en: name.slice(0, i), zh };
  }
  return { en: name, zh: name };
}

export function deptName(depts: GenesisDepartment[], id: string): string {
  const d = depts.find((x) => x.id === id);
  if (!d) return id;
  const n = splitName(d.name);
  return lang() === "zh" ? n.zh : n.en;
}

/** Short label for diagrams: the Chinese name in Chinese, the id in English. */
export function deptShort(depts: GenesisDepartment[], id: string): string {
  if (lang() === "en") return id;
  const d = depts.find((x) => x.id === id);
  return d ? splitName(d.name).zh : id;
}

export function certTypeName(g: Genesis, id: string): string {
  const c = g.access?.cert_types?.find((x) => x.id === id);
  if (!c) return id;
  return lang() === "zh" ? c.name_zh || c.name : c.name;
}

export type BadgeKind = "allow" | "deny" | "keyshare" | "compute" | "result";

/** The badges of a record: its action, and the gate's decision. */
export function badges(r: AuditRecord): { kind: BadgeKind; label: string }[] {
  const decision =
    r.decision === "deny"
      ? { kind: "deny" as const, label: t("badgeDeny") }
      : { kind: "allow" as const, label: t("badgeAllow") };
  switch (r.action) {
    case "key_release":
      return [{ kind: "keyshare", label: t("badgeKeyShare") }];
    case "compute_result":
      return [{ kind: "result", label: t("badgeJobResult") }];
    case "compute":
      return r.decision === "deny"
        ? [{ kind: "compute", label: t("badgeCompute") }, decision]
        : [{ kind: "compute", label: t("badgeCompute") }];
    default:
      return [decision];
  }
}
