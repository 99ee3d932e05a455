import type { Unsubscribe } from './events.js';

/** Functions told of each value emitted; each add() returns the function that removes that listener. */
export class Listeners<T> {
  private readonly fns: ((value: T) => void)[] = [];

  get size(): number {
    return this.fns.length;
  }

  add(fn: (value: T) => void): Unsubscribe {
    this.fns.push(fn);
    return () => {
      const i = this.fns.indexOf(fn);
      if (i >= 0) this.fns.splice(i, 1);
    };
  }

  /** Tells every listener; one that removes itself (or another) meanwhile does not disturb the round. */
  emit(value: T): void {
    for (const fn of this.fns.length === 1 ? this.fns : [...this.fns]) fn(value);
  }
}
