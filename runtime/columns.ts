/**
 * Column schemas: Effect Schemas that carry the Arrow type of a Parquet column.
 * A table's row schema is a `Schema.Struct` of these, so one declaration gives the TypeScript row
 * type, validation, and the exact Arrow/Parquet layout (`int16` stays 16 bits on disk).
 */
import { Schema } from "effect"
import type { ColumnInfo } from "./artifact.ts"

/** The Arrow types a column can have. */
export type ArrowType =
  | { readonly _tag: "Int"; readonly bits: 8 | 16 | 32 | 64 }
  | { readonly _tag: "Float"; readonly bits: 32 | 64 }
  | { readonly _tag: "Bool" }
  | { readonly _tag: "Utf8" }
  | { readonly _tag: "Dictionary" }
  | { readonly _tag: "TypedList"; readonly item: "int8" | "int16" | "int32" | "float32" | "float64" }
  | { readonly _tag: "List"; readonly item: ArrowType }
  | { readonly _tag: "Nullable"; readonly inner: ArrowType }

/** Annotation key under which a column schema records its Arrow type. */
export const ArrowTypeId: unique symbol = Symbol.for("jukeflow/ArrowType")

const annotate = <S extends Schema.Schema.Any>(schema: S, arrow: ArrowType, title: string): S =>
  schema.annotations({ [ArrowTypeId]: arrow, title }) as S

const int = (bits: 8 | 16 | 32, lo: number, hi: number) =>
  annotate(Schema.Int.pipe(Schema.between(lo, hi)), { _tag: "Int", bits }, `int${bits}`)

const typedArray = <T>(ctor: abstract new (...args: never[]) => T, item: "int8" | "int16" | "int32" | "float32" | "float64") =>
  annotate(Schema.instanceOf(ctor), { _tag: "TypedList", item }, `list<${item}>`)

/** Column types for table row schemas. */
export const Col = {
  /** 8-bit signed integer. */
  int8: int(8, -128, 127),
  /** 16-bit signed integer. */
  int16: int(16, -32768, 32767),
  /** 32-bit signed integer. */
  int32: int(32, -2147483648, 2147483647),
  /** 64-bit signed integer, exposed as a JS number (exact up to 2^53). */
  int64: annotate(Schema.Int, { _tag: "Int", bits: 64 }, "int64"),
  /** 32-bit float. */
  float32: annotate(Schema.Number, { _tag: "Float", bits: 32 }, "float32"),
  /** 64-bit float. */
  float64: annotate(Schema.Number, { _tag: "Float", bits: 64 }, "float64"),
  /** Boolean. */
  bool: annotate(Schema.Boolean, { _tag: "Bool" }, "bool"),
  /** UTF-8 string. */
  string: annotate(Schema.String, { _tag: "Utf8" }, "string"),
  /** Dictionary-encoded string: for columns with few distinct values (ids, names). */
  dictionary: annotate(Schema.String, { _tag: "Dictionary" }, "dictionary<string>"),
  /** List of int8, held as an Int8Array. */
  int8List: typedArray(Int8Array, "int8"),
  /** List of int16, held as an Int16Array (token windows). */
  int16List: typedArray(Int16Array, "int16"),
  /** List of int32, held as an Int32Array. */
  int32List: typedArray(Int32Array, "int32"),
  /** List of float32, held as a Float32Array (audio, features). */
  float32List: typedArray(Float32Array, "float32"),
  /** List of float64, held as a Float64Array. */
  float64List: typedArray(Float64Array, "float64"),
  /** List of any other column type, held as a readonly array. */
  list: <A, I>(item: Schema.Schema<A, I>): Schema.Schema<ReadonlyArray<A>, ReadonlyArray<I>> =>
    annotate(Schema.Array(item), { _tag: "List", item: arrowTypeOf(item.ast, "list item") }, `list<${titleOf(item)}>`),
  /** A column that may hold null. */
  nullable: <A, I>(inner: Schema.Schema<A, I>): Schema.Schema<A | null, I | null> =>
    annotate(Schema.NullOr(inner), { _tag: "Nullable", inner: arrowTypeOf(inner.ast, "nullable column") }, `${titleOf(inner)}?`),
} as const

const titleOf = (schema: Schema.Schema.Any): string => {
  const arrow = schema.ast.annotations[ArrowTypeId] as ArrowType | undefined
  return arrow ? formatArrowType(arrow) : String(schema)
}

/** Human-readable name of an Arrow type, as `inspect` prints it. */
export const formatArrowType = (t: ArrowType): string => {
  switch (t._tag) {
    case "Int": return `int${t.bits}`
    case "Float": return `float${t.bits}`
    case "Bool": return "bool"
    case "Utf8": return "string"
    case "Dictionary": return "dictionary<string>"
    case "TypedList": return `list<${t.item}>`
    case "List": return `list<${formatArrowType(t.item)}>`
    case "Nullable": return `${formatArrowType(t.inner)}?`
  }
}

/**
 * The Arrow type of a column schema: its annotation, or the obvious default for plain
 * `Schema.Number` (float64), `Schema.String` (string), `Schema.Boolean` and `Schema.Int` (int32).
 * Throws a `TypeError` naming `where` for anything else.
 */
export const arrowTypeOf = (ast: Schema.Schema.Any["ast"], where: string): ArrowType => {
  const annotated = ast.annotations[ArrowTypeId] as ArrowType | undefined
  if (annotated) return annotated
  switch (ast._tag) {
    case "NumberKeyword": return { _tag: "Float", bits: 64 }
    case "StringKeyword": return { _tag: "Utf8" }
    case "BooleanKeyword": return { _tag: "Bool" }
    case "Refinement": {
      if (String(ast.annotations[Symbol.for("effect/annotation/Identifier")] ?? "") === "Int") return { _tag: "Int", bits: 32 }
      return arrowTypeOf(ast.from, where)
    }
    case "Transformation": return arrowTypeOf(ast.to, where)
    case "Union": {
      const nonNull = ast.types.filter((t) => !(t._tag === "Literal" && t.literal === null))
      if (nonNull.length === 1 && nonNull.length < ast.types.length) {
        return { _tag: "Nullable", inner: arrowTypeOf(nonNull[0]!, where) }
      }
      if (ast.types.every((t) => t._tag === "Literal" && typeof t.literal === "string")) return { _tag: "Dictionary" }
      break
    }
    case "Literal":
      if (typeof ast.literal === "string") return { _tag: "Dictionary" }
      break
    default:
      break
  }
  throw new TypeError(`${where}: no Arrow column type for ${String(ast)}; use one of Col.* (int8, int16, float32, string, int16List, ...)`)
}

/** The columns of a table's row schema (a `Schema.Struct` of `Col.*`), in declaration order. */
export const tableColumns = (row: Schema.Schema<any, any>): ReadonlyArray<ColumnInfo> => {
  const ast = row.ast
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0) {
    throw new TypeError("table row: expected a Schema.Struct of Col.* columns")
  }
  return ast.propertySignatures.map((property) => {
    const where = `column ${String(property.name)}`
    if (typeof property.name !== "string") throw new TypeError(`${where}: column names must be strings`)
    if (property.isOptional) throw new TypeError(`${where}: optional columns are not supported; use Col.nullable(...)`)
    return { name: property.name, type: arrowTypeOf(property.type, where) }
  })
}
