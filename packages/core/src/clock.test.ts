import { timer } from 'rxjs';
import { formatDuration, ms, seconds, VirtualClock } from './clock';
import { SimulationError } from './errors';
import { EventLog } from './events';

describe('VirtualClock', () => {
  it('starts at power-on and advances by whole microseconds', () => {
    const clock = new VirtualClock();
    expect(clock.nowUs).toBe(0);
    clock.advance(1500);
    expect(clock.nowUs).toBe(1500);
    clock.advance(ms(2));
    expect(clock.nowUs).toBe(3500);
    clock.advance(0);
    expect(clock.nowUs).toBe(3500);
    clock.advance(0.4); // rounds to 0
    clock.advance(0.6); // rounds to 1
    expect(clock.nowUs).toBe(3501);
  });

  it('costs no wall time for long simulated durations', () => {
    const clock = new VirtualClock();
    const t0 = Date.now();
    clock.advance(seconds(3600));
    expect(clock.nowUs).toBe(3_600_000_000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('fires a timer scheduled on its scheduler once the clock passes it, at the due time', () => {
    const clock = new VirtualClock();
    const firedAt: number[] = [];
    timer(5000, clock.scheduler).subscribe(() => firedAt.push(clock.nowUs));
    clock.advance(5000);
    expect(firedAt).toEqual([5000]);
    clock.advance(10_000);
    expect(firedAt).toEqual([5000]); // once
  });

  it('fires timers in due order', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    timer(3000, clock.scheduler).subscribe(() => order.push(`late@${clock.nowUs}`));
    timer(1000, clock.scheduler).subscribe(() => order.push(`early@${clock.nowUs}`));
    clock.advance(3000);
    expect(order).toEqual(['early@1000', 'late@3000']);
    expect(clock.nowUs).toBe(3000);
  });

  it('does not fire a timer, nor move past the requested time, before the timer is due', () => {
    const clock = new VirtualClock();
    let fired = false;
    timer(5000, clock.scheduler).subscribe(() => (fired = true));
    clock.advance(4000);
    expect(clock.nowUs).toBe(4000);
    expect(fired).toBe(false);
  });

  it.each([-1, -0.6, Number.NaN, Number.POSITIVE_INFINITY])('refuses to advance by %p µs and stays where it was', (d) => {
    const clock = new VirtualClock();
    clock.advance(10);
    expect(() => clock.advance(d)).toThrow(SimulationError);
    expect(clock.nowUs).toBe(10);
  });

  it('stamps events with virtual time', () => {
    const clock = new VirtualClock();
    const log = new EventLog(clock);
    log.emit('post', 'start', 'post');
    clock.advance(seconds(40));
    log.emit('post', 'end', 'post');
    log.emit('post', 'progress', '50%');
    expect(log.timeline.map((e) => [e.tUs, e.kind])).toEqual([
      [0, 'start'],
      [40_000_000, 'end'],
    ]);
  });
});

describe('durations', () => {
  it('converts milliseconds and seconds to microseconds', () => {
    expect(ms(5)).toBe(5000);
    expect(seconds(2)).toBe(2_000_000);
  });

  it('formats microseconds with a unit for people', () => {
    expect(formatDuration(42)).toBe('42 µs');
    expect(formatDuration(1500)).toBe('1.5 ms');
    expect(formatDuration(12_345_000)).toBe('12.345 s');
    expect(formatDuration(seconds(1))).toBe('1.000 s');
  });
});
