/**
 * @module The partition state as the core reads it: users, objects and the
 * partition record, each with the store version it was read at.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Barrier } from '../barrier/barrier.js';
import type { UserRecord } from '../users/users.js';
import { PATH, FIRST_HANDLE, dec, decodeObject, type LoadedObject, type LoadedUser, type PartitionRecord } from './records.js';

export class PartitionState {
  constructor(private readonly barrier: Barrier) {}

  async user(name: string): Promise<LoadedUser | undefined> {
    const e = await this.barrier.get(PATH.user(name));
    return e ? { rec: dec<UserRecord>(e.value), version: e.version } : undefined;
  }

  async users(): Promise<LoadedUser[]> {
    const list = await this.barrier.list(PATH.users);
    return list.map((e) => ({ rec: dec<UserRecord>(e.value), version: e.version }));
  }

  async object(handle: number): Promise<LoadedObject | undefined> {
    if (!Number.isSafeInteger(handle) || handle < FIRST_HANDLE) return undefined;
    const e = await this.barrier.get(PATH.object(handle));
    return e ? { obj: decodeObject(e.value), version: e.version } : undefined;
  }

  async objects(): Promise<LoadedObject[]> {
    const list = await this.barrier.list(PATH.objects);
    return list.map((e) => ({ obj: decodeObject(e.value), version: e.version }));
  }

  async partition(): Promise<{ rec: PartitionRecord; version: number } | undefined> {
    const e = await this.barrier.get(PATH.partition);
    return e ? { rec: dec<PartitionRecord>(e.value), version: e.version } : undefined;
  }

  async requirePartition(): Promise<{ rec: PartitionRecord; version: number }> {
    const p = await this.partition();
    if (!p) throw new HsmError('ERR_PARTITION_STATE', 'the partition is not initialised');
    return p;
  }
}
