/**
 * Plain data types describing parsed Arrow IPC metadata, and the Schema.fbs / Message.fbs enum values
 * the rest of the module needs.
 *
 * @module
 */

/** `Type` union tags from Arrow's Schema.fbs. */
export const TypeId = {
  NONE: 0,
  Null: 1,
  Int: 2,
  FloatingPoint: 3,
  Binary: 4,
  Utf8: 5,
  Bool: 6,
  Decimal: 7,
  Date: 8,
  Time: 9,
  Timestamp: 10,
  Interval: 11,
  List: 12,
  Struct_: 13,
  Union: 14,
  FixedSizeBinary: 15,
  FixedSizeList: 16,
  Map: 17,
  Duration: 18,
  LargeBinary: 19,
  LargeUtf8: 20,
  LargeList: 21,
  RunEndEncoded: 22,
  BinaryView: 23,
  Utf8View: 24,
  ListView: 25,
  LargeListView: 26,
} as const;

/** Highest `Type` union tag this module understands. */
export const MAX_TYPE_ID = 26;

/** `MetadataVersion` enum values from Schema.fbs (only V4 and V5 are accepted). */
export const MetadataVersion = { V1: 0, V2: 1, V3: 2, V4: 3, V5: 4 } as const;

/** `MessageHeader` union tags from Message.fbs. */
export const MessageHeaderType = {
  NONE: 0,
  Schema: 1,
  DictionaryBatch: 2,
  RecordBatch: 3,
  Tensor: 4,
  SparseTensor: 5,
} as const;

/** Dictionary encoding of a field (`DictionaryEncoding` in Schema.fbs). */
export interface DictionaryInfo {
  /** Dictionary id shared with the DictionaryBatch messages. */
  id: bigint;
  /** Bit width of the index integer type (8, 16, 32 or 64). */
  indexBitWidth: number;
  /** Whether the index integer type is signed. */
  indexSigned: boolean;
  /** Whether the dictionary values are ordered. */
  isOrdered: boolean;
}

/**
 * One field of a schema. `typeId`/`typeName` and the type parameters describe the value type; for a
 * dictionary-encoded field that is the dictionary's value type and `dictionaryId`/`dictionary` describe the
 * index. The optional parameters beyond the first block exist so that a parsed schema can be re-encoded
 * without losing information.
 */
export interface FieldInfo {
  /** Field name (may be empty). */
  name: string;
  /** Whether the field may hold nulls. */
  nullable: boolean;
  /** `Type` union tag, see {@link TypeId}. */
  typeId: number;
  /** Readable type name for error messages, e.g. "UInt64", "Binary", "Dictionary<Int32, Utf8>". */
  typeName: string;
  /** Bit width of Int, FloatingPoint, Decimal, Date, Time, Timestamp, Interval and Duration values. */
  bitWidth?: number;
  /** Signedness of Int. */
  isSigned?: boolean;
  /** Byte width of FixedSizeBinary. */
  byteWidth?: number;
  /** Child fields (List, Struct, Map, Union, ...). */
  children: FieldInfo[];
  /** Dictionary id, set when the field is dictionary-encoded. */
  dictionaryId?: bigint;
  /** Full dictionary encoding, set together with `dictionaryId`. */
  dictionary?: DictionaryInfo;
  /** Unit enum of Date, Time, Timestamp, Interval and Duration (Schema.fbs values). */
  unit?: number;
  /** FloatingPoint precision enum (0 half, 1 single, 2 double) or the Decimal precision in digits. */
  precision?: number;
  /** Decimal scale. */
  scale?: number;
  /** Timestamp time zone. */
  timezone?: string;
  /** Union mode. */
  unionMode?: "sparse" | "dense";
  /** Union type ids, when the schema lists them. */
  typeIds?: number[];
  /** FixedSizeList list size. */
  listSize?: number;
  /** Map keysSorted flag. */
  keysSorted?: boolean;
  /** Field-level custom metadata, when present. */
  metadata?: Map<string, string>;
}

/** A parsed schema: fields and schema-level custom metadata (insertion order = wire order). */
export interface SchemaInfo {
  /** Top-level fields, in column order. */
  fields: FieldInfo[];
  /** Schema custom metadata. */
  metadata: Map<string, string>;
  /** Schema `features` values, kept for re-encoding. */
  features?: bigint[];
}

/** A field node of a record batch (one per field in depth-first order). */
export interface NodeInfo {
  /** Number of slots. */
  length: number;
  /** Number of null slots. */
  nullCount: number;
}

/** A buffer location inside a message body. */
export interface BufferInfo {
  /** Byte offset from the start of the body. */
  offset: number;
  /** Byte length (the compressed length, 8-byte prefix included, when the body is compressed). */
  length: number;
}

/** The contents of a RecordBatch table. */
export interface BatchInfo {
  /** Row count (0 <= length <= 2^53). */
  length: number;
  /** Field nodes in depth-first field order. */
  nodes: NodeInfo[];
  /** Buffers in depth-first field order. */
  buffers: BufferInfo[];
  /** Body compression codec. */
  compression: "none" | "lz4" | "zstd";
  /** `variadicBufferCounts` of BinaryView/Utf8View columns, when present. */
  variadicBufferCounts?: number[];
  /** The enclosing Message's bodyLength; set by parseMessage and checked against the body when present. */
  bodyLength?: number;
  /** The enclosing Message's metadata version (V4 unions carry an extra validity buffer). */
  metadataVersion?: number;
}

/** A parsed and validated IPC Message header. */
export type IpcMessage =
  | { kind: "schema"; schema: SchemaInfo; bodyLength: number }
  | { kind: "recordBatch"; batch: BatchInfo; bodyLength: number }
  | { kind: "dictionaryBatch"; id: bigint; isDelta: boolean; batch: BatchInfo; bodyLength: number };
