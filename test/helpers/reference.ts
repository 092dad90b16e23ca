/** State the counting-writer fixture must hold after processing offsets [0, upTo). */
export function countingReference(upTo: number, keys = 50): Map<string, { count: number; sum: number }> {
  const ref = new Map<string, { count: number; sum: number }>();
  for (let i = 0; i < upTo; i++) {
    const k = `k${i % keys}`;
    const s = ref.get(k) ?? { count: 0, sum: 0 };
    ref.set(k, { count: s.count + 1, sum: s.sum + i });
  }
  return ref;
}
