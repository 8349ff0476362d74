//! Shared by the modules: the topic, SQS queues subscribed to it, and what reached them.

use serde_json::Value;

/// An SQS queue: its URL and ARN (what SNS subscribes).
pub(crate) struct Queue {
    pub(crate) url: String,
    pub(crate) arn: String,
}

/// Creates the queue `name`.
pub(crate) async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Queue {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    Queue { url, arn }
}

/// Every SNS envelope waiting in a queue, read and deleted (moto delivers synchronously on
/// Publish).
pub(crate) async fn drain(sqs: &aws_sdk_sqs::Client, q: &Queue) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = r.messages();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(&q.url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Creates the topic `name`; its ARN.
pub(crate) async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let out = sns.create_topic().name(name).send().await.unwrap();
    out.topic_arn().unwrap().to_owned()
}

/// Subscribes `queue` to `topic`; the subscription's ARN.
pub(crate) async fn subscribe(sns: &aws_sdk_sns::Client, topic: &str, queue: &Queue) -> String {
    let out = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(&queue.arn)
        .send()
        .await
        .unwrap();
    out.subscription_arn().unwrap().to_owned()
}
