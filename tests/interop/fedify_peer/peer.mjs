// An independent ActivityPub server for fedi-forum's interop tests, built on Fedify
// (https://fedify.dev): a Mastodon-like account "alice" that looks up, follows, replies
// to, edits, deletes and unfollows a fedi-forum discussion. Fedify signs (draft-cavage
// or RFC 9421, chosen by PEER_FIRST_KNOCK, with its own double-knocking), verifies
// what arrives at its inbox with its own code, and fetches with signed GETs.
//
// The Python test drives it over a small JSON control API on the same port
// (/control/...). It listens on 127.0.0.1 only and prints {"port": N} when ready.
import http from "node:http";
import { Temporal } from "@js-temporal/polyfill";
import { createFederation, generateCryptoKeyPair, MemoryKvStore } from "@fedify/fedify";
import {
  Accept, Announce, Create, Delete, Endpoints, Follow, Mention, Note, Person, PUBLIC_COLLECTION,
  Reject, Tombstone, Undo, Update,
} from "@fedify/vocab";

const firstKnock = process.env.PEER_FIRST_KNOCK ?? "rfc9421";
const federation = createFederation({
  kv: new MemoryKvStore(),
  allowPrivateAddress: true, // the test world is 127.0.0.1 only
  firstKnock,
});
const keyPair = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const state = { received: [], inboxRequests: [], fetched: [], errors: [] };
const notes = new Map(); // id -> Note
const looked = new Map(); // handle or id -> the looked-up actor object
let origin = "";
let counter = 0;
let lastFollow = null;

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "alice") return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Alice (Fedify)",
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      followers: ctx.getFollowersUri(identifier),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === "alice" ? [keyPair] : []));

federation.setFollowersDispatcher("/users/{identifier}/followers", async () => ({ items: [] }));
federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", async (_ctx, values) =>
  notes.get(values.id) ?? null);

async function record(ctx, activity) {
  state.received.push({
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    object: activity.objectId?.href ?? null,
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, record)
  .on(Reject, record)
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Undo, record)
  .on(Announce, async (ctx, announce) => {
    await record(ctx, announce);
    // like Mastodon: dereference what the group shared, with a signed GET
    try {
      const documentLoader = await ctx.getDocumentLoader({ identifier: "alice" });
      const object = await announce.getObject({ documentLoader });
      state.fetched.push({ id: object?.id?.href ?? null, content: object?.content?.toString() ?? null });
    } catch (error) {
      state.errors.push(`fetching announced object: ${error}`);
    }
  })
  .onError((_ctx, error) => { state.errors.push(String(error)); });

function ctx() {
  return federation.createContext(new URL(origin), undefined);
}

function alice(c) {
  return c.getActorUri("alice");
}

async function lookup(handle) {
  const c = ctx();
  const documentLoader = await c.getDocumentLoader({ identifier: "alice" });
  const actor = await c.lookupObject(handle, { documentLoader });
  if (actor == null) throw new Error(`nothing found for ${handle}`);
  looked.set(handle, actor);
  looked.set(actor.id.href, actor);
  return actor;
}

function noteFor(c, id, { text, inReplyTo, group, updated }) {
  return new Note({
    id: new URL(`/users/alice/notes/${id}`, origin),
    attribution: alice(c),
    content: `<p>${text}</p>`,
    replyTarget: inReplyTo ? new URL(inReplyTo) : null,
    to: PUBLIC_COLLECTION,
    ccs: [c.getFollowersUri("alice"), group.id],
    tags: [new Mention({ href: group.id, name: `@${group.preferredUsername}` })],
    published: Temporal.Instant.from("2026-11-28T10:00:00Z"),
    updated: updated ?? null,
    url: new URL(`/@alice/${id}`, origin),
  });
}

const control = {
  async lookup({ handle }) {
    const actor = await lookup(handle);
    return {
      id: actor.id.href, type: actor.constructor.name, name: actor.name?.toString() ?? null,
      preferredUsername: actor.preferredUsername?.toString() ?? null,
      inbox: actor.inboxId?.href ?? null,
    };
  },
  async follow({ target }) {
    const c = ctx();
    const group = looked.get(target) ?? (await lookup(target));
    lastFollow = new Follow({
      id: new URL(`/users/alice#follows/${++counter}`, origin), actor: alice(c), object: group.id,
    });
    await c.sendActivity({ identifier: "alice" }, group, lastFollow);
    return { id: lastFollow.id.href };
  },
  async unfollow({ target }) {
    const c = ctx();
    const group = looked.get(target);
    const undo = new Undo({
      id: new URL(`/users/alice#undo/${++counter}`, origin), actor: alice(c), object: lastFollow,
    });
    await c.sendActivity({ identifier: "alice" }, group, undo);
    return { id: undo.id.href };
  },
  async reply({ target, inReplyTo, text }) {
    const c = ctx();
    const group = looked.get(target);
    const id = String(++counter);
    const note = noteFor(c, id, { text, inReplyTo, group });
    notes.set(id, note);
    const create = new Create({
      id: new URL(`/users/alice/notes/${id}/activity`, origin), actor: alice(c), object: note,
      to: PUBLIC_COLLECTION, ccs: note.ccIds,
    });
    await c.sendActivity({ identifier: "alice" }, group, create);
    return { id: note.id.href };
  },
  async edit({ target, id, text }) {
    const c = ctx();
    const group = looked.get(target);
    const old = notes.get(id);
    const note = noteFor(c, id, {
      text, inReplyTo: old.replyTargetId?.href, group, updated: Temporal.Now.instant(),
    });
    notes.set(id, note);
    const update = new Update({
      id: new URL(`/users/alice/notes/${id}#updates/${++counter}`, origin), actor: alice(c),
      object: note, to: PUBLIC_COLLECTION, ccs: note.ccIds,
    });
    await c.sendActivity({ identifier: "alice" }, group, update);
    return { id: note.id.href };
  },
  async delete({ target, id }) {
    const c = ctx();
    const group = looked.get(target);
    notes.delete(id);
    const noteId = new URL(`/users/alice/notes/${id}`, origin);
    const del = new Delete({
      id: new URL(`/users/alice/notes/${id}#delete`, origin), actor: alice(c),
      object: new Tombstone({ id: noteId }), to: PUBLIC_COLLECTION,
    });
    await c.sendActivity({ identifier: "alice" }, group, del);
    return { id: noteId.href };
  },
  async fetch({ url }) {
    const documentLoader = await ctx().getDocumentLoader({ identifier: "alice" });
    const { document } = await documentLoader(url);
    return document;
  },
  // The same object read the way Fedify's vocabulary reads it (JSON-LD expanded):
  // its class and the fields a reader shows.
  async read({ url }) {
    const documentLoader = await ctx().getDocumentLoader({ identifier: "alice" });
    const object = await ctx().lookupObject(url, { documentLoader });
    if (object == null) return null;
    return {
      type: object.constructor.name,
      name: object.name?.toString() ?? null,
      summary: object.summary?.toString() ?? null,
      content: object.content?.toString() ?? null,
      attributedTo: object.attributionId?.href ?? null,
    };
  },
  async state() {
    return state;
  },
};

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, origin);
    const body = await readBody(req);
    if (url.pathname.startsWith("/control/")) {
      const name = url.pathname.slice("/control/".length);
      const args = body.length ? JSON.parse(body.toString("utf8")) : {};
      try {
        const result = await control[name](args);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(result));
      } catch (error) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: String(error?.stack ?? error) }));
      }
      return;
    }
    if (req.method === "POST") {
      state.inboxRequests.push({
        path: url.pathname,
        rfc9421: "signature-input" in req.headers,
        cavage: "signature" in req.headers && !("signature-input" in req.headers),
      });
    }
    const request = new Request(url, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) =>
        Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]),
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const response = await federation.fetch(request, {
      contextData: undefined,
      onNotFound: async () => new Response("not found", { status: 404 }),
      onNotAcceptable: async () => new Response("not acceptable", { status: 406 }),
    });
    if (req.method === "POST") state.inboxRequests.at(-1).status = response.status;
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    state.errors.push(String(error?.stack ?? error));
    res.writeHead(500);
    res.end();
  }
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  origin = `http://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
