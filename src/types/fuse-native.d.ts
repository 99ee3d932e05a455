declare module 'fuse-native' {
  type Cb = (...args: any[]) => void;
  interface FuseOptions {
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    fsname?: string;
    subtype?: string;
    attrTimeout?: number | string;
    entryTimeout?: number | string;
    timeout?: number | false | Record<string, number | false>;
    [k: string]: unknown;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: any[]) => void>, opts?: FuseOptions);
    mnt: string;
    opts: FuseOptions;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    _fuseOptions(): string;
    ops: Record<string, Cb>;
    _op_getxattr(signal: Cb, path: string, name: string, valueBuf: Buffer, position: number): void;
    _op_listxattr(signal: Cb, path: string, listBuf: Buffer): void;
    // Each op's arguments end with the caller's uid, gid and pid when fuse-native is built by scripts/patch-fuse-native.sh.
    _op_create(signal: Cb, path: string, mode: number, ...caller: number[]): void;
    _op_mkdir(signal: Cb, path: string, mode: number, ...caller: number[]): void;
    _op_mknod(signal: Cb, path: string, mode: number, dev: number, ...caller: number[]): void;
    _op_symlink(signal: Cb, target: string, path: string, ...caller: number[]): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
  export default Fuse;
}
