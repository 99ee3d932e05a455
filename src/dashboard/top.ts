import type { SwarmClient } from '../client/index.js';
import { defaultConfig, type SwarmEvent } from '../core/index.js';
import { SwarmCollector, type SwarmSnapshot } from './collector.js';
import { formatEventLine, noAnswerLine, renderScreen } from './render.js';

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
  /** The swarm's replica count R (warns when fewer storage cells are alive); defaultConfig()'s if not given. */
  replicas?: number;
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
  /** The last snapshot in which a cell answered: what the rows show, stamped with its age. */
  private last: SwarmSnapshot | null = null;
  private running = false;
  private polling = false;
  /** Since when no cell has answered (wall ms), null while cells answer; said in every mode, never drawn as an empty swarm. */
  private silentSinceMs: number | null = null;
  private startedAtMs = 0;
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
    this.startedAtMs = Date.now();
    void this.tick();
    // Each second redraws (the ages move on) and polls, unless a poll still runs: a poll ends within POLL_TIMEOUT_MS.
    this.timer = setInterval(() => {
      this.draw();
      void this.tick();
    }, this.init.refreshMs ?? 1_000);
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
      const silent = snapshot.reports.size === 0;
      if (silent) {
        this.silentSinceMs ??= this.last?.atMs ?? this.startedAtMs;
        if (this.init.mode === 'plain' && !this.saidSilent) this.init.out.write(`${this.noAnswer()}\n`);
        this.saidSilent = true;
      } else {
        if (this.silentSinceMs !== null && this.init.mode === 'plain') this.init.out.write('cells answer again\n');
        this.silentSinceMs = null;
        this.saidSilent = false;
        this.last = snapshot;
      }
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

  /** True once the current silence was written in plain mode (said once, not every second). */
  private saidSilent = false;

  private draw(): void {
    if (this.init.mode !== 'tty' || !this.running) return;
    // Before the first poll ends there is nothing to say yet.
    if (!this.last && this.silentSinceMs === null) return;
    const width = this.init.out.columns || 100;
    const height = this.init.out.rows || 30;
    const extra = this.init.status?.() ?? '';
    const state = {
      snapshot: this.last,
      nowMs: Date.now(),
      silentSinceMs: this.silentSinceMs,
      seeds: this.init.seeds,
      wrongKeyAt: this.wrongKeyAt(),
      replicas: this.init.replicas ?? defaultConfig().placement.replicas,
    };
    const screen = renderScreen(state, this.log, width, height - (extra ? extra.split('\n').length : 0), this.init.title ?? '');
    this.init.out.write(`\u001b[H\u001b[2J${extra ? extra + '\n' : ''}${screen}`);
  }

  private noAnswer(): string {
    return noAnswerLine({ nowMs: Date.now(), silentSinceMs: this.silentSinceMs, seeds: this.init.seeds, wrongKeyAt: this.wrongKeyAt() });
  }

  private wrongKeyAt(): string[] {
    return this.silentSinceMs === null ? [] : this.init.client.wrongKeyAt(this.init.seeds);
  }
}
