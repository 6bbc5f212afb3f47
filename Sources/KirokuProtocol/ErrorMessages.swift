/// The message catalogue: every error code in Japanese, what it means to the person in front of it. The code
/// stays the same in every language; the hub's and the tools' detail follows in English. A test fails when a
/// code has no Japanese text.
extension ErrorCode {
    /// Every code the project uses, the hub's and the terminal side's.
    public static let all: [ErrorCode] = [
        .malformedRequest, .unsupportedVersion, .invalidEvent, .hashMismatch, .chainBroken, .sequenceGap,
        .sequenceOrder,
        .fork, .agentMismatch, .batchTooLarge, .eventTooLarge, .emptyBatch, .unsupportedEncoding, .unsupportedMediaType,
        .unsupportedDocument, .documentCorrupt, .badCompression, .certificateRequired, .wrongRole, .certificateRevoked,
        .crossSiteRequest, .revocationUnavailable, .storeUnavailable,
        .notPermitted, .badQuery, .notFound, .notOnThisStore, .internalError, .configuration, .journal, .diskFull,
        .alreadyImported,
        .hubUnavailable, .badReceipt,
        .pki, .badCheckpoint, .badProof, .inconsistentLog,
    ]

    public static let japaneseTexts: [ErrorCode: String] = [
        .malformedRequest: "要求の形式が正しくありません。何も変更していません。",
        .unsupportedVersion: "この版の記録形式には対応していません。",
        .invalidEvent: "記録の内容が規格に合いません (種類・操作・日時など)。受け付けていません。",
        .hashMismatch: "記録のハッシュが内容と一致しません。改ざんまたは破損の疑いがあります。",
        .chainBroken: "記録の連鎖 (直前のハッシュ) が切れています。",
        .sequenceGap: "端末の連番に欠けがあります。間の記録が届いていません。",
        .sequenceOrder: "一括送信の中の連番が順番どおりではありません。",
        .fork: "同じ連番に別の記録があります (分岐)。隔離し、取り込んでいません。",
        .agentMismatch: "証明書の端末と記録の端末が一致しません。",
        .batchTooLarge: "送信された内容が大きすぎます。",
        .eventTooLarge: "一件の記録が大きすぎます。",
        .emptyBatch: "送信に記録が一件も含まれていません。",
        .unsupportedEncoding: "この圧縮形式には対応していません (gzip か deflate)。",
        .unsupportedMediaType: "この種類の内容は受け付けません (Content-Type)。何も変更していません。",
        .unsupportedDocument: "受け付けられないファイルです (PDF・PNG・JPEG・CSV で、大きさの上限以内のもの)。何も提出していません。",
        .documentCorrupt: "保管された書類が記録のハッシュと一致しません。改ざんまたは破損の疑いがあります。",
        .badCompression: "圧縮された内容を展開できません。",
        .certificateRequired: "職員または端末の証明書が必要です。",
        .wrongRole: "この証明書の種類では使えない機能です。",
        .certificateRevoked: "この証明書は失効しています。",
        .crossSiteRequest: "この送信は受け付けられません (別のサイトからの送信、またはフォームの確認符号の誤り)。",
        .revocationUnavailable: "失効リストを読めないため、ハブは現在だれも受け付けていません。",
        .storeUnavailable: "記録を保管するデータベースに接続できません。何も変更していません。しばらくしてからやり直してください。",
        .notPermitted: "この操作・閲覧は、あなたの役割では許可されていません。",
        .badQuery: "入力に誤りがあります。何も変更していません。",
        .notFound: "見つかりません。",
        .notOnThisStore:
            "このハブは記録を PostgreSQL に保管しています。所見・台帳・会議資料・保存と保全・委託の提出などは SQLite のハブで提供しています (記録の検索と完全性は、設定の readers に名のある人が使えます)。",
        .internalError: "ハブが要求を処理できませんでした。何も変更していません。",
        .configuration: "設定に誤りがあります。",
        .journal: "端末の記録 (ジャーナル) を読み書きできません。",
        .diskFull: "ディスクがいっぱいのため、記録できませんでした。",
        .alreadyImported: "このファイルは取り込み済みです。何も追加していません。",
        .hubUnavailable: "ハブに接続できないか、ハブの応答が想定外です。",
        .badReceipt: "ハブの受領証を検証できません。",
        .pki: "証明書の操作に失敗しました。",
        .badCheckpoint: "チェックポイント (署名付きの記録の要約) が正しくありません。",
        .badProof: "証明が一致しません。記録がチェックポイントの示すものと異なります。",
        .inconsistentLog: "二つのチェックポイントが両立しません。記録の書き換えの疑いがあります。",
    ]

    /// What the code means, in Japanese.
    public var japanese: String { Self.japaneseTexts[self] ?? "エラーが発生しました (\(rawValue))。" }
}
