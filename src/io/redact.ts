/** Options as they may appear in logs and checkpoint metadata: no secrets, no yargs internals. */

const SECRET_KEY = /(api[-_]?key|token|password|passwd|secret|authorization)/i;

/** Remove the password from a URL (`postgres://u:pw@h/db` → `postgres://u:***@h/db`). */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/i, '$1:***@');
}

export function redactOptions(argv: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(argv)) {
    if (k === '_' || k === '$0' || k.length === 1) continue; // positional list, script name, short aliases
    const kebab = k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
    if (kebab !== k && kebab in argv) continue; // yargs' camelCase twin of a kebab-case option
    if (v === undefined) continue;
    if (SECRET_KEY.test(k)) {
      out[k] = '***';
    } else if (typeof v === 'string') {
      out[k] = redactUrl(v);
    } else {
      out[k] = v;
    }
  }
  return out;
}
