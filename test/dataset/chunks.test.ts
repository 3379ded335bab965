import { describe, expect, it } from "vitest"
import { chunkStarts, extendVocabulary, isHeldOut, labelId } from "../../dataset/chunks.ts"

describe("chunking maths", () => {
  it("cuts whole chunks only, and none from a song shorter than one", () => {
    expect(chunkStarts(20, 6)).toEqual([0, 6, 12])
    expect(chunkStarts(18, 6)).toEqual([0, 6, 12])
    expect(chunkStarts(5.9, 6)).toEqual([])
  })

  it("holds out songs by their id alone, about the asked share", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `song-${i}`)
    const held = ids.filter((id) => isHeldOut(id, 10))
    expect(held.length).toBeGreaterThan(150)
    expect(held.length).toBeLessThan(250)
    expect(ids.filter((id) => isHeldOut(id, 10))).toEqual(held)
    expect(isHeldOut("x", 0)).toBe(false)
    expect(isHeldOut("x", 100)).toBe(true)
  })

  it("extends a vocabulary without renumbering", () => {
    const first = extendVocabulary(undefined, ["Bo", "Ada", "Bo"], ["rock"])
    expect(first).toEqual({ artists: ["Ada", "Bo"], genres: ["rock"] })
    const second = extendVocabulary(first, ["Aaron", "Bo", "Zed"], ["blues", "rock"])
    expect(second).toEqual({ artists: ["Ada", "Bo", "Aaron", "Zed"], genres: ["rock", "blues"] })
    expect(labelId(second.artists, "Bo")).toBe(2)
    expect(labelId(second.artists, "Nobody")).toBe(0)
  })
})
