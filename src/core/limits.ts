/**
 * Hard limits that are part of the protocol or protect a process from its
 * peers. Tunable numbers live in config.ts; these do not change at run time.
 */

/** Largest UDP payload IPv4 can carry. */
export const UDP_PAYLOAD_BYTES_MAX = 65_507;
/** Smallest datagram size we support (fits any real network's MTU path). */
export const DATAGRAM_BYTES_MIN = 1_200;
/** Largest chunk, and the default chunk size (config.ts): see docs/decisions/0001-chunk-size-4mib.md. */
export const CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/**
 * The buffers a chunk file is read into whole (the BufferPool a client lends
 * local reads from): a largest chunk and one byte more, to see that a file
 * is longer.
 */
export const LOCAL_READ_BUFFER_BYTES = CHUNK_BYTES_MAX + 1;
/** Largest message (request or response body) after reassembly: a largest chunk plus headroom. */
export const MESSAGE_BYTES_MAX = CHUNK_BYTES_MAX + 64 * 1024;
/** Fragments one message may be cut into (MESSAGE_BYTES_MAX at the smallest datagram size). */
export const FRAGMENTS_PER_MESSAGE_MAX = 4096;
/** Frames per sender remembered for duplicate detection inside the replay window. */
export const REPLAY_FRAMES_PER_SENDER = 512;
/**
 * Members one cell tracks; joins beyond this are refused (and counted).
 * 10,000-cell swarms with headroom; a whole table as JSON (~250 bytes a
 * member) still fits one message (MESSAGE_BYTES_MAX): a JOIN answer, a push-pull.
 */
export const MEMBERS_MAX = 16_384;
/**
 * Senders whose replay windows we remember; the least recently heard is
 * forgotten first. Every member of a full table and as many clients (mounts,
 * tools): a cell of a 10,000-cell swarm hears from most of it over time.
 * Windows are made as senders are heard, so the bound costs nothing unused.
 */
export const REPLAY_SENDERS_MAX = 2 * MEMBERS_MAX;
/** Keys in one HAS request. */
export const HAS_KEYS_MAX = 1024;
/**
 * Largest file (bytes): ext4's with 4 KiB blocks, (2^32 - 1) blocks, so that
 * a truncate or write past it fails here where it fails on a local disk
 * (EFBIG). Sizes up to it cost what is written, not the size (holes are
 * never stored); see docs/decisions/0027-largest-file-and-sparse-chunk-lists.md.
 */
export const FILE_BYTES_MAX = (2 ** 32 - 1) * 4096;
