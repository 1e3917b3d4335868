/** Components that main.ts starts in order and stops in reverse. */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAll(components: readonly Component[]): Promise<void> {
  const started: Component[] = [];
  try {
    for (const c of components) {
      await c.start();
      started.push(c);
    }
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

export async function stopAll(components: readonly Component[]): Promise<void> {
  for (const c of [...components].reverse()) {
    try {
      await c.stop();
    } catch {
      // stopping continues: one component's failure must not keep the others running
    }
  }
}
