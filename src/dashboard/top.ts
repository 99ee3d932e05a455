import type { SwarmClient } from '../client/index.js';
import type { SwarmEvent } from '../core/index.js';
import { SwarmCollector, type SwarmSnapshot } from './collector.js';
import { formatEventLine, renderScreen } from './render.js';

export type TopMode = 'tty' | 'plain' | 'json';

export interface TopInit {
  client: SwarmClient;
  seeds: string[];
  mode: TopMode;
  out: NodeJS.WriteStream;
  title?: string;
  refreshMs?: number;
  /** Extra lines below the title (the demo's progress). */
  status?: () => string;
}

/** Events kept for the screen's scrolling log. */
const LOG_LINES_MAX = 500;

/**
 * The live dashboard. TTY: a full-screen colored view redrawn about once a
 * second in the alternate screen, fitted to the terminal and restored on
 * exit. Not a TTY: one timestamped line per event. JSON: one event object per
 * line, for scripts.
 */
export class Top {
  readonly collector: SwarmCollector;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: SwarmEvent[] = [];
  private last: SwarmSnapshot | null = null;
  private running = false;
  private polling = false;
  /** No cell answered the last poll: said once, not redrawn silently as an empty swarm. */
  private silent = false;
  private readonly onResize = () => this.draw();

  constructor(private readonly init: TopInit) {
    this.collector = new SwarmCollector(init.client, init.seeds, init.mode === 'tty');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.init.mode === 'tty') {
      // Alternate screen, hidden cursor: restored by stop(), whatever ends us.
      this.init.out.write('\u001b[?1049h\u001b[?25l');
      this.init.out.on('resize', this.onResize);
    }
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.init.refreshMs ?? 1_000);
  }

  /** Stops and gives the terminal back as it was. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.init.mode === 'tty') {
      this.init.out.off('resize', this.onResize);
      this.init.out.write('\u001b[?25h\u001b[?1049l');
    }
  }

  private async tick(): Promise<void> {
    if (this.polling || !this.running) return;
    this.polling = true;
    try {
      const { snapshot, events } = await this.collector.poll();
      if (!this.running) return;
      this.last = snapshot;
      const silent = snapshot.reports.size === 0;
      if (silent !== this.silent && this.init.mode === 'plain') this.init.out.write(silent ? `${this.noAnswer()}\n` : 'cells answer again\n');
      this.silent = silent;
      for (const e of events) {
        if (this.init.mode === 'json') this.init.out.write(JSON.stringify(e) + '\n');
        else if (this.init.mode === 'plain') this.init.out.write(formatEventLine(e, false) + '\n');
        this.log.push(e);
      }
      if (this.log.length > LOG_LINES_MAX) this.log.splice(0, this.log.length - LOG_LINES_MAX);
      this.draw();
    } catch {
      // A poll that fails (every cell down for a moment) is simply retried next tick.
    } finally {
      this.polling = false;
    }
  }

  private draw(): void {
    if (this.init.mode !== 'tty' || !this.last || !this.running) return;
    const width = this.init.out.columns || 100;
    const height = this.init.out.rows || 30;
    const extra = [this.silent ? `\u001b[31m${this.noAnswer()}\u001b[0m` : '', this.init.status?.() ?? ''].filter(Boolean).join('\n');
    const screen = renderScreen(this.last, this.log, width, height - (extra ? extra.split('\n').length : 0), this.init.title ?? '');
    this.init.out.write(`\u001b[H\u001b[2J${extra ? extra + '\n' : ''}${screen}`);
  }

  private noAnswer(): string {
    return `no cell answers at ${this.init.seeds.join(', ')}: is the swarm up (cellsync swarm status)? Asking again every second.`;
  }
}
