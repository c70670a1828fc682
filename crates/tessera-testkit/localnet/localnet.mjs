// Sets a subnet up on the local Subtensor chain and reads its storage back, with polkadot.js: a
// client independent of Tessera's own chain backend. Run by tessera-testkit from target/localnet,
// beside the npm packages; every command prints one JSON document on stdout.
//
//   node localnet.mjs <ws-url> setup '<spec json>'       -> {"netuid": n, "uids": {hotkey: uid}}
//   node localnet.mjs <ws-url> sudo '<calls json>'       -> {"ok": true}
//   node localnet.mjs <ws-url> query <Pallet> <Item> '<keys json>'  -> the value as JSON
//   node localnet.mjs <ws-url> block                     -> {"number": n}
//
// A spec: {"owner": "//Alice", "hotkeys": ["5F..", ...], "stakes": {"5F..": 1000},
//          "hyper": [["sudo_set_tempo", 10], ...]}; hotkeys are registered in order.
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';

const [url, command, ...rest] = process.argv.slice(2);
const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true, throwOnConnect: true });
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function failure(events) {
  for (const { event } of events) {
    if (api.events.system.ExtrinsicFailed.is(event)) {
      const [err] = event.data;
      if (err.isModule) {
        const m = api.registry.findMetaError(err.asModule);
        return `${m.section}::${m.name}`;
      }
      return err.toString();
    }
    if (api.events.sudo && api.events.sudo.Sudid.is(event)) {
      const [res] = event.data;
      if (res.isErr) {
        const e = res.asErr;
        if (e.isModule) {
          const m = api.registry.findMetaError(e.asModule);
          return `sudo: ${m.section}::${m.name}`;
        }
        return `sudo: ${e.toString()}`;
      }
    }
  }
  return null;
}

// Signs every call with `signer` at consecutive nonces, builds one block and checks each landed.
// Each transaction is handed to the pool only once the one before is in it: chopsticks refuses
// as Invalid a nonce whose predecessor it has not seen, which happens when concurrent
// submissions arrive out of order on a busy machine.
async function submit(signer, calls) {
  // The nonce in the chain's state, not accountNextIndex: chopsticks counts transactions that
  // its pool dropped there, and a nonce past the state's waits forever.
  let nonce = (await api.query.system.account(signer.address)).nonce.toNumber();
  const done = [];
  const waiting = new Set();
  for (const call of calls) {
    const name = `${call.method.section}.${call.method.method}`;
    let pooled;
    const ready = new Promise((resolve) => { pooled = resolve; });
    const landed = new Promise((resolve, reject) => {
      call.signAndSend(signer, { nonce: nonce++ }, (r) => {
        if (r.status.isReady || r.status.isBroadcast) pooled();
        // Finalized counts as landed too: chopsticks reports it 100 ms after InBlock, and
        // polkadot.js drops an InBlock whose events it is still fetching when the next status
        // comes (switchMap), which on a loaded machine leaves only Finalized to be seen.
        if (r.status.isInBlock || r.status.isFinalized) {
          const bad = failure(r.events);
          bad ? reject(new Error(`${name}: ${bad}`)) : resolve();
        } else if (r.isError) {
          pooled();
          reject(new Error(`${name}: ${r.status.toString()}`));
        }
      }).catch((e) => { pooled(); reject(new Error(`${name}: ${e.message}`)); });
    });
    const label = `${name} (nonce ${nonce - 1})`;
    waiting.add(label);
    // Awaited below; until then a rejection must not end the process as unhandled.
    landed.then(() => waiting.delete(label), () => {});
    done.push(landed);
    await ready;
  }
  await api._rpcCore.provider.send('dev_newBlock', [{ count: 1 }]);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`not in a block within 60 s: ${[...waiting].join(', ')}`)), 60000));
  await Promise.race([Promise.all(done), timeout]);
}

function sudoCalls(list, netuid) {
  return list.map(([name, ...args]) => {
    const f = api.tx.adminUtils[camel(name)];
    if (!f) throw new Error(`AdminUtils has no call ${name}`);
    const takesNetuid = f.meta.args.length > 0 && f.meta.args[0].name.toString() === 'netuid';
    return api.tx.sudo.sudo(takesNetuid ? f(netuid, ...args) : f(...args));
  });
}

let out;
// A transaction whose mortal era starts at the genesis block is refused as Invalid by chopsticks
// (as an immortal one is, whose checks use the genesis hash too); a busy machine can hand out the
// port before the first block is built, so make sure there is one.
if ((await api.rpc.chain.getHeader()).number.toNumber() === 0) {
  await api._rpcCore.provider.send('dev_newBlock', [{ count: 1 }]);
}

if (command === 'setup') {
  const spec = JSON.parse(rest[0]);
  const owner = keyring.addFromUri(spec.owner ?? '//Alice');
  const sudo = keyring.addFromUri('//Alice');
  // Lock costs and rate limits of a fresh chain are set for mainnet; relax the global ones.
  await submit(sudo, sudoCalls([['sudo_set_network_rate_limit', 0], ['sudo_set_network_min_lock_cost', 1_000_000_000]], 0));
  const before = (await api.query.subtensorModule.totalNetworks()).toNumber();
  const ownerHotkey = spec.owner_hotkey ?? spec.hotkeys[0];
  await submit(owner, [api.tx.subtensorModule.registerNetwork(ownerHotkey, 1)]);
  // The new subnet is the highest netuid that exists now.
  let netuid = -1;
  const added = await api.query.subtensorModule.networksAdded.entries();
  for (const [key, on] of added) {
    const n = key.args[0].toNumber();
    if (on.isTrue && n > netuid) netuid = n;
  }
  if (netuid < 1 || (await api.query.subtensorModule.totalNetworks()).toNumber() <= before) {
    throw new Error('register_network added no subnet');
  }
  const n = spec.hotkeys.length;
  const hyper = [
    ['sudo_set_max_allowed_uids', Math.max(n + 1, 8)],
    ['sudo_set_max_registrations_per_block', 1024],
    ['sudo_set_target_registrations_per_interval', 1024],
    ['sudo_set_network_registration_allowed', true],
    ['sudo_set_max_allowed_validators', Math.max(n + 1, 8)],
    ...(spec.hyper ?? []),
  ];
  await submit(sudo, sudoCalls(hyper, netuid));
  const registered = new Set((await api.query.subtensorModule.uids.entries(netuid)).map(([k]) => k.args[1].toString()));
  const toRegister = spec.hotkeys.filter((h) => !registered.has(h));
  for (let i = 0; i < toRegister.length; i += 64) {
    await submit(owner, toRegister.slice(i, i + 64).map((h) => api.tx.subtensorModule.burnedRegister(netuid, h)));
  }
  const stakes = Object.entries(spec.stakes ?? {});
  // A new subnet's pool starts at 1 rao of TAO against 1 of alpha, where staking 1000 TAO buys
  // a single rao of alpha. Deepen the pool (1e6 TAO against 1e6 alpha) so that add_stake, run by
  // the runtime as on any subnet, buys about as much alpha as it spends TAO.
  const deep = '1000000000000000';
  await api._rpcCore.provider.send('dev_setStorage', [{ SubtensorModule: { SubnetTAO: [[[netuid], deep]], SubnetAlphaIn: [[[netuid], deep]] } }]);
  for (let i = 0; i < stakes.length; i += 64) {
    await submit(owner, stakes.slice(i, i + 64).map(([h, tao]) =>
      api.tx.subtensorModule.addStake(h, netuid, BigInt(Math.round(tao * 1e9)))));
  }
  const uids = {};
  for (const [k, uid] of await api.query.subtensorModule.uids.entries(netuid)) {
    uids[k.args[1].toString()] = uid.unwrap().toNumber();
  }
  out = { netuid, uids };
} else if (command === 'sudo') {
  const { netuid, calls } = JSON.parse(rest[0]);
  await submit(keyring.addFromUri('//Alice'), sudoCalls(calls, netuid));
  out = { ok: true };
} else if (command === 'query') {
  const [pallet, item, keys] = rest;
  const q = api.query[camel(pallet.charAt(0).toLowerCase() + pallet.slice(1))][camel(item.charAt(0).toLowerCase() + item.slice(1))];
  const v = await q(...JSON.parse(keys ?? '[]'));
  out = v.isNone ? null : (v.isSome ? v.unwrap().toJSON() : v.toJSON());
} else if (command === 'block') {
  out = { number: (await api.rpc.chain.getHeader()).number.toNumber() };
} else {
  throw new Error(`unknown command ${command}`);
}
console.log(JSON.stringify(out));
await api.disconnect();
process.exit(0);
