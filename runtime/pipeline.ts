/**
 * Pipelines: a named record of stage uses. Each use wires its inputs by the *name* of another
 * stage in the same pipeline, and the compiler checks that the named stage's output kind is the
 * input's kind — `songs: "align"` where `align` outputs `Json<Alignment>` is a type error that lists
 * the names that would fit. Names may point forward, so a cycle is expressible; it is reported (and
 * named) by validation before anything runs.
 */
import type { Schema } from "effect"
import type { AnyStage, Stage } from "./stage.ts"
import { callerSite, type CallSite } from "./internal/callsite.ts"

type ParamsOf<S> = S extends Stage<any, infer P, any, any, any> ? P : never
type InputsOf<S> = S extends Stage<any, any, infer I, any, any> ? I : never
type OutputOf<S> = S extends Stage<any, any, any, infer O, any> ? O : never

/** How a use names its inputs: input name → the name of an upstream stage use. */
export type Wiring<S extends AnyStage> = { readonly [K in keyof InputsOf<S>]: string }

/** One instance of a stage in a pipeline: its params (encoded form) and input wiring. */
export interface Use<S extends AnyStage = AnyStage, W = Wiring<S>> {
  readonly _tag: "Use"
  readonly stage: S
  readonly inputs: W
  readonly params: Partial<Schema.Schema.Encoded<ParamsOf<S>>>
  /** Where the use was written, for error messages. */
  readonly site: CallSite
}

/** Uses a stage in a pipeline, with its params and the names of the stages feeding its inputs. */
export function use<S extends AnyStage, const W extends Wiring<S>>(
  stage: S,
  options: { readonly params?: Partial<Schema.Schema.Encoded<ParamsOf<S>>>; readonly inputs: W },
): Use<S, W>
/** Uses a stage that has no inputs. */
export function use<S extends AnyStage>(
  stage: {} extends InputsOf<S> ? S : never,
  options?: { readonly params?: Partial<Schema.Schema.Encoded<ParamsOf<S>>> },
): Use<S, {}>
export function use(stage: AnyStage, options?: { params?: Use["params"]; inputs?: Record<string, string> }): Use {
  return { _tag: "Use", stage, inputs: options?.inputs ?? {}, params: options?.params ?? {}, site: callerSite() }
}

/** Names in `U` whose stage outputs exactly kind `K`. */
type NamesProducing<U, K> = {
  [N in keyof U]: U[N] extends Use<infer S, any> ? ([OutputOf<S>] extends [K] ? ([K] extends [OutputOf<S>] ? N : never) : never) : never
}[keyof U] & string

/** The wiring each use must have: every input names a use whose output is that input's kind. */
export type CheckedUses<U> = {
  readonly [N in keyof U]: U[N] extends Use<infer S, any>
    ? Use<S, { readonly [K in keyof InputsOf<S>]: NamesProducing<U, InputsOf<S>[K]> }>
    : Use
}

/** A pipeline: a name and its stage uses, with the file that defined it. */
export interface Pipeline<U extends Readonly<Record<string, Use<any, any>>> = Readonly<Record<string, Use<any, any>>>> {
  readonly _tag: "Pipeline"
  readonly name: string
  readonly uses: U
  readonly site: CallSite
  /** Names given twice when pipelines were combined with `extend`; reported by validation. */
  readonly duplicates: ReadonlyArray<{ readonly name: string; readonly site: CallSite; readonly first: CallSite }>
}

/** Defines a pipeline from a record of uses; the record's keys are the stage names in this pipeline. */
const define = <const U extends Readonly<Record<string, Use<any, any>>>>(
  name: string,
  uses: U & CheckedUses<U>,
): Pipeline<U> => ({ _tag: "Pipeline", name, uses, site: callerSite(), duplicates: [] })

/**
 * A new pipeline with the uses of `base` plus `uses`, which may name `base`'s stages as inputs.
 * Giving a name that `base` already has is an error, reported when the pipeline is validated.
 */
const extend = <B extends Readonly<Record<string, Use<any, any>>>, const U extends Readonly<Record<string, Use<any, any>>>>(
  base: Pipeline<B>,
  name: string,
  uses: U & CheckedUses<B & U>,
): Pipeline<B & U> => {
  const duplicates = Object.keys(uses).filter((n) => n in base.uses).map((n) => ({
    name: n, site: (uses as Record<string, Use>)[n]!.site, first: (base.uses as Record<string, Use>)[n]!.site,
  }))
  return { _tag: "Pipeline", name, uses: { ...base.uses, ...uses }, site: callerSite(), duplicates: [...base.duplicates, ...duplicates] }
}

/** Pipeline constructors. */
export const Pipeline = { define, extend, use } as const
