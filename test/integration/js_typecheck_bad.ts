// Must NOT compile: proves the declarations are checked, not `any`.
import { LiveSync } from 'livesync-client';

const sync = new LiveSync('ws://127.0.0.1:1/v1/sync', { encoding: 'xml' });
sync.subscribe(42, (change) => change.nonexistent);
