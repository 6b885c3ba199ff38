// Exact arithmetic on the API's decimal strings (BigInt scaled by a power
// of ten): money is shown as the API wrote it, summed and rounded exactly,
// and never goes through a float.

const RE = /^([+-]?)(\d+)(?:\.(\d*))?$/;

/** parse gives {n, scale} (value = n / 10^scale), or null if s is not a decimal. */
export function parse(s) {
  if (typeof s !== "string" && typeof s !== "number") return null;
  const m = RE.exec(String(s).trim());
  if (!m) return null;
  const frac = m[3] || "";
  let n = BigInt(m[2] + frac);
  if (m[1] === "-") n = -n;
  return { n, scale: frac.length };
}

const pow10 = (k) => 10n ** BigInt(k);

function text({ n, scale }, keepZeros) {
  const neg = n < 0n;
  let digits = (neg ? -n : n).toString().padStart(scale + 1, "0");
  let int = digits.slice(0, digits.length - scale);
  let frac = digits.slice(digits.length - scale);
  if (!keepZeros) frac = frac.replace(/0+$/, "");
  const zero = /^0*$/.test(int + frac);
  return (neg && !zero ? "-" : "") + int + (frac ? "." + frac : "");
}

function combine(a, b, op) {
  const x = parse(a), y = parse(b);
  if (!x || !y) return null;
  const scale = Math.max(x.scale, y.scale);
  const xn = x.n * pow10(scale - x.scale), yn = y.n * pow10(scale - y.scale);
  return text({ n: op(xn, yn), scale }, false);
}

/** add is a + b, exactly (null if either is not a decimal). */
export const add = (a, b) => combine(a, b, (x, y) => x + y);
/** sub is a - b, exactly. */
export const sub = (a, b) => combine(a, b, (x, y) => x - y);

/** sum adds decimal strings; "0" for none, null if one is not a decimal. */
export function sum(values) {
  let acc = "0";
  for (const v of values) {
    acc = add(acc, v);
    if (acc === null) return null;
  }
  return acc;
}

/** sign is -1, 0 or 1 (0 for a non-decimal). */
export function sign(s) {
  const x = parse(s);
  if (!x || x.n === 0n) return 0;
  return x.n < 0n ? -1 : 1;
}

/** fixed rounds half away from zero to places decimals, keeping trailing
 * zeros ("-0.005" -> "-0.01", "1.2" -> "1.20"). */
export function fixed(s, places) {
  const x = parse(s);
  if (!x) return String(s);
  if (x.scale <= places) return text({ n: x.n * pow10(places - x.scale), scale: places }, true);
  const div = pow10(x.scale - places);
  const abs = x.n < 0n ? -x.n : x.n;
  let q = abs / div;
  if ((abs % div) * 2n >= div) q += 1n;
  return text({ n: x.n < 0n ? -q : q, scale: places }, true);
}

/** group puts thousands separators into a decimal string's whole part. */
export function group(s) {
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(s);
  if (!m) return s;
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (m[3] || "");
}

/** money is a decimal string for display: rounded to cents, grouped. */
export const money = (s) => group(fixed(s, 2));
