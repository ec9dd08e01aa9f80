/** MemoryStore against the store contract, with a fake clock so lease tests do not sleep. */
import { MemoryStore } from '../src/memory.js';
import { exerciseStore } from './conformance.js';

let clock = 1_700_000_000_000;
exerciseStore('memory', () => new MemoryStore({ now: () => clock }), { advanceClock: (ms) => { clock += ms; }, compact: (s) => (s as MemoryStore).compact() });
