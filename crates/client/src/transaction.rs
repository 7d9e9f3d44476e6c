//! Local transactions: StartLocalTransaction, CommitTransaction, AbortTransaction.
//! (Row requests inside a transaction are not offered by this client yet.)

use tablesafe_proto::model::{PkValue, PrimaryKey};
use tablesafe_proto::{pb, plainbuffer};

use crate::error::ClientError;
use crate::retry;
use crate::Client;

impl Client {
    /// Opens a local transaction on the rows of `table` whose partition key (its
    /// first primary key column, `column`) is `value`; returns the transaction id.
    #[doc(alias = "StartLocalTransaction")]
    pub async fn start_local_transaction(
        &self,
        table: &str,
        column: &str,
        value: PkValue,
    ) -> Result<String, ClientError> {
        let message = pb::StartLocalTransactionRequest {
            table_name: table.to_owned(),
            key: plainbuffer::encode_primary_key(&PrimaryKey::new([(column, value)])),
        };
        let response: pb::StartLocalTransactionResponse =
            self.transport.call(retry::START_LOCAL_TRANSACTION, &message).await?;
        Ok(response.transaction_id)
    }

    /// Commits a local transaction: its writes become visible together.
    #[doc(alias = "CommitTransaction")]
    pub async fn commit_transaction(&self, transaction_id: &str) -> Result<(), ClientError> {
        let message = pb::CommitTransactionRequest { transaction_id: transaction_id.to_owned() };
        let _: pb::CommitTransactionResponse = self.transport.call(retry::COMMIT_TRANSACTION, &message).await?;
        Ok(())
    }

    /// Aborts a local transaction: its writes are discarded.
    #[doc(alias = "AbortTransaction")]
    pub async fn abort_transaction(&self, transaction_id: &str) -> Result<(), ClientError> {
        let message = pb::AbortTransactionRequest { transaction_id: transaction_id.to_owned() };
        let _: pb::AbortTransactionResponse = self.transport.call(retry::ABORT_TRANSACTION, &message).await?;
        Ok(())
    }
}
