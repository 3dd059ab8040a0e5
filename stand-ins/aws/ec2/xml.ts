/**
 * The EC2 Query protocol's response side: XML in the 2016-11-15 namespace, camelCase element names,
 * every list as a wrapper element of `<item>`s, and errors as
 * `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` (note `RequestID`,
 * not the `requestId` of a success).
 */
export const ec2Namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/';

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** Text content only (the emulator writes no attributes), so quotes stay as they are, as EC2 sends them. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (c) => escapes[c] ?? c);
}

/** An element of already rendered children; undefined children are left out. */
export function el(name: string, ...children: (string | undefined)[]): string {
  return `<${name}>${children.filter((c) => c !== undefined).join('')}</${name}>`;
}

/** A text element, or nothing when the value is undefined. */
export function leaf(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A list: `<name><item>…</item>…</name>`. */
export function items<T>(name: string, list: readonly T[], render: (item: T) => string): string {
  return el(name, ...list.map((item) => el('item', render(item))));
}

export function tagSet(tags: ReadonlyMap<string, string>): string {
  return items('tagSet', [...tags], ([key, value]) => `${leaf('key', key)}${leaf('value', value)}`);
}

export function successXml(action: string, requestId: string, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${ec2Namespace}">` +
    `${leaf('requestId', requestId)}${body}</${action}Response>`
  );
}

export function errorXml(code: string, message: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>' +
    `${leaf('Code', code)}${leaf('Message', message)}</Error></Errors>${leaf('RequestID', requestId)}</Response>`
  );
}
