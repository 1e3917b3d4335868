/**
 * Per-object serialisation (libvirt's job lock): calls with the same key run one after
 * another in arrival order; different keys run in parallel.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    // Free: run now, not a microtask later (every command pays that hop otherwise).
    const next = prev ? prev.then(fn, fn) : fn();
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      // drop the entry when nobody queued behind us, so the map does not grow without bound
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
