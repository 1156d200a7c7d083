/**
 * Options and labels as they may appear in logs, errors and checkpoint metadata: no secrets, no yargs
 * internals. URLs are taken apart by the WHATWG URL parser (the same reading pg's connection-string parser
 * makes), so every form pg accepts is covered: `u:pw@h`, a password holding `@` (`u:p@ss@h`), and secrets in
 * the query (`?password=`, `?sslpassword=`, `?api_key=` …).
 */

const SECRET_KEY = /(api[-_]?key|token|password|passwd|pwd|secret|authorization|credential)/i;
const MASK = '***';
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]+/gi;
/** libpq key=value settings (`host=h password=pw`) and `password=` anywhere in free text. */
const SECRET_SETTING = new RegExp(`\\b([\\w-]*${SECRET_KEY.source.slice(1, -1)}[\\w-]*)(\\s*=\\s*)('[^']*'|"[^"]*"|[^\\s&'"]+)`, 'gi');

/** Remove the secrets from one URL; a string that does not parse as one is handled as text. */
function redactOneUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    // Unparseable but URL-shaped: mask everything between `scheme://user:` and the last `@` (over-masking is safe).
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/i, `$1:${MASK}@`).replace(SECRET_SETTING, `$1$2${MASK}`);
  }
  let changed = false;
  if (u.password) {
    u.password = MASK;
    changed = true;
  }
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_KEY.test(key)) {
      u.searchParams.set(key, MASK);
      changed = true;
    }
  }
  return changed ? u.href.replace(/%2A%2A%2A/g, MASK) : value;
}

/**
 * Remove passwords and keys from a URL (`postgres://u:pw@h/db` → `postgres://u:***@h/db`,
 * `postgres://h/db?password=pw` → `postgres://h/db?password=***`) or from any text holding URLs or
 * `password=…` settings.
 */
export function redactUrl(value: string): string {
  return value.replace(URL_IN_TEXT, (m) => redactOneUrl(m)).replace(SECRET_SETTING, `$1$2${MASK}`);
}

function redactValue(key: string, v: unknown): unknown {
  if (SECRET_KEY.test(key)) return MASK;
  if (typeof v === 'string') return redactUrl(v);
  if (Array.isArray(v)) return v.map((x) => redactValue(key, x));
  return v;
}

export function redactOptions(argv: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(argv)) {
    if (k === '_' || k === '$0' || k.length === 1) continue; // positional list, script name, short aliases
    const kebab = k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
    if (kebab !== k && kebab in argv) continue; // yargs' camelCase twin of a kebab-case option
    if (v === undefined) continue;
    out[k] = redactValue(k, v);
  }
  return out;
}
