"""What pacing costs a batch of deliveries in Redis: the cooldown a channel may ask for is read
once per connection and batch, not once per delivery (pacing.acquire's ``cooldowns``)."""

from __future__ import annotations

from tests.delivery.conftest import all_settled, make_route, make_source, make_target, settle


def test_a_batch_of_deliveries_to_one_endpoint_reads_its_cooldown_once(app, api, client, receiver, redis_client):
    source, inbound = make_source(api)
    make_route(api, source, [make_target(api, receiver.url + "/hook")])
    for n in range(6):
        assert client.post(inbound, json={"n": n}).status_code == 200
    redis_client.config_resetstat()
    items = settle(app, all_settled(api, 6))
    assert [d["status"] for d in items] == ["delivered"] * 6
    assert len(receiver.wait_for(6)) == 6
    reads = redis_client.info("commandstats").get("cmdstat_pttl", {}).get("calls", 0)
    assert reads == 1, f"the cooldown was read {reads} times for one batch of 6 deliveries"
