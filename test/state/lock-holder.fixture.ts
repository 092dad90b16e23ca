// Holds a state directory's lock (DirLock, refreshed every 50 ms) until stdin
// closes or it is killed. Usage: lock-holder.fixture.ts <stateDir>
import { DirLock } from '../../src/state/dir-lock.js';

const lock = DirLock.acquire(process.argv[2]!, { refreshMs: 50 });
console.log(`LOCKED ${process.pid}`);
process.stdin.resume();
process.stdin.on('end', () => {
  lock.release();
  console.log('RELEASED');
  process.exit(0);
});
