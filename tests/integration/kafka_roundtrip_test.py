"""A real KRaft broker: 1,000 messages produced and consumed back with kafka-python."""

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def test_thousand_messages_round_trip(kafka_service):
    topic = "roundtrip"
    admin = KafkaAdminClient(bootstrap_servers=kafka_service.bootstrap_servers)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_service.bootstrap_servers, acks="all")
    sent = {f"event-{i}" for i in range(1000)}
    for value in sorted(sent):
        producer.send(topic, key=value.encode(), value=value.encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_service.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=10000
    )
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    received = [message.value.decode() for message in consumer]
    consumer.close()

    assert len(received) == 1000, "every message arrives exactly once"
    assert set(received) == sent


def test_committed_offsets_survive_a_new_consumer(kafka_service):
    topic = "offsets"
    producer = KafkaProducer(bootstrap_servers=kafka_service.bootstrap_servers)
    for i in range(10):
        producer.send(topic, str(i).encode())
    producer.flush()
    producer.close()

    def consumer():
        return KafkaConsumer(
            topic,
            bootstrap_servers=kafka_service.bootstrap_servers,
            group_id="g1",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=8000,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )

    first = consumer()
    got = [next(first).value for _ in range(4)]
    first.commit()
    first.close()
    second = consumer()
    rest = [m.value for m in second]
    second.close()
    assert got + rest == [str(i).encode() for i in range(10)]
