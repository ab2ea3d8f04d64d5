//! The draft templates, written for this evaluation in the registers Sealpost's users write.
//!
//! Placeholders: `{kind}` writes a bare value, `{kind:ctx}` the value inside a context phrase
//! ("NHS number: …"), and the trap variants `{nhs:bad}`, `{bsn:bad}`, `{iban:bad}`, `{card:bad}`
//! (one digit off, with context), `{nhs:rep}`, `{nino:qq}`, `{nino:admin}`, `{card:test}`,
//! `{iban:doc}` (the documentation IBANs: a positive), `{phone:trap}`. Kinds: `nhs`, `nino`,
//! `bsn`, `iban`, `card`, `ukpc`, `nlpc`, `dob`, `passport`, `email`, `phone`. Filler:
//! `{name}`, `{first}`, `{surname}`, `{street}`, `{town}`, `{org}`, `{amount}`, `{time}`,
//! `{expiry}`, and the unlabelled hard negatives `{date}` (a meeting or letter date),
//! `{order}`, `{epoch}`, `{epochms}`.
//!
//! HELD-OUT SET: the templates marked `Split::Test` below must NEVER be read or used while
//! writing or tuning detector rules. They are the hold-out of research §5.5; once a rule has
//! been tuned on them, the Test figures no longer mean anything. Tune on `Split::Dev` only.

use super::{Lang, Split};

/// One template: an identifier, its language, its split and the text with placeholders.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Template {
    pub(crate) id: &'static str,
    pub(crate) lang: Lang,
    pub(crate) split: Split,
    pub(crate) text: &'static str,
}

const fn t(id: &'static str, lang: Lang, split: Split, text: &'static str) -> Template {
    Template { id, lang, split, text }
}

use Lang::{En, Nl};
use Split::{Dev, Test};

pub(crate) const TEMPLATES: &[Template] = &[
    // ------------------------------------------------------------------ English, Dev
    t(
        "en_gp_referral",
        En,
        Dev,
        r#"Dear Dr {surname},

Re: {name}, {nhs:ctx}, {dob:ctx}
{street}, {town} {ukpc}

I would be grateful if you could see this lady, who has had intermittent chest pain on exertion for six weeks. An ECG in surgery showed no acute changes. She takes ramipril 5 mg and atorvastatin 20 mg. We discussed the referral on {date}.

Please contact me on {phone:ctx} or {email:ctx} if you need anything further.

Yours sincerely,
Dr {name}
{org}"#,
    ),
    t(
        "en_discharge_summary",
        En,
        Dev,
        r#"DISCHARGE SUMMARY
Patient: {name}
{nhs:ctx}
{dob:ctx}
Admitted: {date}   Discharged: {date}
Ward 7B, Royal Infirmary

Diagnosis: community-acquired pneumonia, treated with amoxicillin and clarithromycin. Oxygen weaned on day 3. Follow-up in respiratory clinic on {date} at {time}.
Next of kin: {name}, {phone:ctx}
Hospital number {order} (please use the NHS number in all correspondence)."#,
    ),
    t(
        "en_housing_benefit",
        En,
        Dev,
        r#"{org}
Housing Benefit and Council Tax Reduction

{date}

{name}
{street}
{town}
{ukpc}

Claim reference: {order}
{nino:ctx}

Dear {name},

We have reassessed your claim following the change in your working hours. From next Monday we will pay £{amount} every two weeks. Please tell us within one month if your circumstances change again.

You can reach the benefits team on {phone:ctx} or by {email:ctx}."#,
    ),
    t(
        "en_payroll_new_starter",
        En,
        Dev,
        r#"Subject: New starter details - {name}

Hi {first},

Please set up payroll for our new warehouse operative, starting {date}:

Name: {name}
{nino:ctx}
{dob:ctx}
Bank details: {iban:ctx}
Home: {street}, {town} {ukpc}
Right to work checked against {passport:ctx}.

Thanks,
{name}
HR, {org}
{phone:ctx}"#,
    ),
    t(
        "en_invoice",
        En,
        Dev,
        r#"INVOICE {order}
Date: {date}

To: {name}
{street}, {town} {ukpc}

3 x physiotherapy session @ £{amount}
Total due: £{amount}

Please pay by bank transfer to {iban:ctx} within 30 days, quoting the invoice number. The old account {iban:bad} printed on earlier invoices contained a typing error.
Questions: {email:ctx} or {phone:ctx}."#,
    ),
    t(
        "en_card_call_notes",
        En,
        Dev,
        r#"Call notes {date} {time}

Caller {name} rang about the deposit for the holiday let. She read out her {card:ctx}, expiry {expiry}, and asked us to take £{amount} today. I repeated the number back and she confirmed it. The earlier {card:bad} she gave on Tuesday was declined as invalid.
Booking {order}. Callback on {phone:ctx} if there is a problem."#,
    ),
    t(
        "en_school_trip",
        En,
        Dev,
        r#"Dear Parent/Carer of {first},

The Year 6 residential trip to the Brecon Beacons leaves on {date}. Some families have asked about the French exchange next term: if your child is going, please send a copy of their {passport:ctx} to the office by {date}.

The remaining balance of £{amount} can be paid to the school fund, {iban:ctx}, using your child's name as the reference.

Contact the school office on {phone:ctx} or {email:ctx}.

Yours faithfully,
{name}
Headteacher, {org}"#,
    ),
    t(
        "en_police_property",
        En,
        Dev,
        r#"PROPERTY RECORD - occurrence {order}

Recovered {date} at {time}, bus shelter outside {street}, {town} {ukpc}.
Brown leather wallet containing: a debit card ({card:ctx}), a provisional driving licence in the name of {name}, {dob:ctx}, and a folded letter from the DWP quoting {nino:ctx}.
Owner traced via the bank; to be collected by {date}. Contact {phone:ctx}."#,
    ),
    t(
        "en_mailing_list_allotment",
        En,
        Dev,
        r#"Subject: [allotment-society] Updated plot holder list

Hi all,

Here is the updated list for the season:
{name} - {email} - {phone}
{name} - {email} - {phone}
{name} - {email}
{name} - {phone}

Next working party is on {date}, 10am at the shed. The water troughs will be switched on in April.
Subs can be sent to the society account {iban} as before.

Cheers,
{first}"#,
    ),
    t(
        "en_chat_bare_nhs",
        En,
        Dev,
        r#"{first}: morning! can you pull up {nhs} for me before the 10 o'clock?
{first}: which one, {nhs} or the one from yesterday?
{first}: the first. she rang again about the repeat prescription, lives at {street}, {town} {ukpc}
{first}: ok give me five minutes"#,
    ),
    t(
        "en_attendance_list",
        En,
        Dev,
        r#"Subject: Swimming club - session list {date}

Hi coaches,

Here are the swimmers for Saturday's gala, please check the lane allocations:

{name}, {dob}, {ukpc}
{name}, {dob}, {ukpc}
{name}, {dob}, {ukpc}
{name}, {dob}, {ukpc}

Warm-up starts at {time}. Thanks, {first}"#,
    ),
    t(
        "en_gp_results_letter",
        En,
        Dev,
        r#"Dear {name},

Your blood test results from {date} are within the normal range and no further action is needed. Please quote your {nhs:ctx} when you contact the surgery.

Please note that the form you returned had {nhs:rep} written in, which looks like a placeholder; we have used the number on our records instead.

If you have any questions, call the surgery on {phone:ctx}.

{org}"#,
    ),
    t(
        "en_it_sync_log",
        En,
        Dev,
        r#"Subject: Re: patient portal sync errors

Hi {first},

Log excerpt from last night:
[{epoch}] sync job failed for record {order}
[{epoch}] retry scheduled, id {epoch}
event_ts_ms={epochms} status=503

In staging we only use {card:test}, the public test number. The IBAN in the docs, {iban:doc}, is the standard example.
If it happens again, the NHS app on-call is {phone:trap}.

{name}"#,
    ),
    t(
        "en_council_tax",
        En,
        Dev,
        r#"Council Tax reminder - account {order}

{name}
{street}, {town} {ukpc}

Our records show £{amount} outstanding for this year. You can pay online with a debit or credit card, or by transfer to {iban:ctx}. If you now receive Universal Credit you may qualify for a reduction: please tell us your {nino:ctx}.

Payment must reach us by {date}."#,
    ),
    t(
        "en_hr_sickness",
        En,
        Dev,
        r#"Subject: Long-term sickness - {name}

Hi {first},

{name} has sent a fit note covering the next four weeks (back pain). For the Statutory Sick Pay claim I have her {nino:ctx} and {dob:ctx}. Her line manager's number is {phone:ctx}.

Return-to-work meeting pencilled in for {date} at {time}.

Thanks, {name}"#,
    ),
    t(
        "en_tenancy_reference",
        En,
        Dev,
        r#"Tenancy application - {street}, {town} {ukpc}

Applicant: {name}
{dob:ctx}
ID seen: {passport:ctx}
Current address: {street}, {town} {ukpc}
Deposit paid from {iban:ctx}
Contact: {email:ctx}, {phone:ctx}

Viewing took place on {date}. Reference requested from previous landlord."#,
    ),
    t(
        "en_nino_guidance",
        En,
        Dev,
        r#"Subject: Payroll upload rejected

Hi {first},

The upload failed because two rows used the HMRC guidance example, {nino:qq}, instead of a real number. Row 12 has {nino:admin}, which is an administrative reference, not a National Insurance number.
The correct {nino:ctx} for row 12 is on the starter form.

Please resubmit by {date}.
{name}"#,
    ),
    // ------------------------------------------------------------------ English, Test (held out)
    t(
        "en_safeguarding_note",
        En,
        Test,
        r#"SAFEGUARDING CONCERN - CONFIDENTIAL

Child: {name}, {dob:ctx}, {nhs:ctx}
School: {org}
Parent/carer: {name}, {phone:ctx}
{street}, {town} {ukpc}

On {date} at {time} the class teacher noticed bruising to the child's upper arm. The child said it happened at home. Mother's {nino:ctx} was provided to the housing officer on request.
A sibling's record gives {nhs:bad}; this looks mistyped and has been queried with the surgery.
Discussed with the designated safeguarding lead on {date}; referral made to children's social care."#,
    ),
    t(
        "en_benefits_reconsideration",
        En,
        Test,
        r#"Mandatory reconsideration request

Claimant: {name}
{nino:ctx}
{dob:ctx}

I am writing on behalf of my client, who disagrees with the decision of {date} to stop her Personal Independence Payment. Her condition has not improved since the last assessment.
Please pay any arrears to {iban:ctx}.
Note that the letter of {date} quoted {iban:bad}, which is not her account.

Contact: {email:ctx}
{name}, Welfare Rights Adviser"#,
    ),
    t(
        "en_dutch_colleague_hr",
        En,
        Test,
        r#"Subject: Relocation paperwork - {name}

Hi {first},

Our new colleague {name} is moving over from the Rotterdam office. For the Dutch side of the payroll I need her {bsn:ctx}, {dob:ctx} and the {iban:ctx} for her salary. Her {passport:ctx} expires next year, so we should renew before the visa application.

The {bsn:bad} on her first form is wrong, please ignore it. Her partner's {bsn:ctx} is only needed for the tax treaty form.

Thanks,
{name}"#,
    ),
    t(
        "en_payment_reminder",
        En,
        Test,
        r#"Payment reminder

Dear {name},

Our records show that your payment of £{amount} due on {date} failed. The {card:ctx} on file was declined. The replacement {card:ctx} you gave us by phone was also declined, and the {card:bad} on your renewal form fails the card check.

You can pay by transfer to {iban:ctx}, reference {order}. If you have already paid, please ignore this message.

{org} Accounts
{phone:ctx}"#,
    ),
    t(
        "en_witness_statement",
        En,
        Test,
        r#"WITNESS STATEMENT

Name: {name}
{dob:ctx}
Address: {street}, {town} {ukpc}
Telephone: {phone}
Occupation: delivery driver

On {date} at about {time} I was parked outside the post office when I saw a man in a grey hoodie take a bag from the counter. He later showed the shop assistant a {passport:ctx} as identification. He paid with a {card:ctx}. I was asked for my {nino:ctx} for the witness expenses form.

Statement taken by PC {surname}, reference {order}."#,
    ),
    t(
        "en_discharge_letter",
        En,
        Test,
        r#"Discharge letter

{name}    {dob:ctx}    {nhs:ctx}
GP: Dr {surname}, {org}, {ukpc}

Admitted on {date} with a fall and a fractured left wrist, treated with manipulation under anaesthetic. Discharged home on {date} with a district nurse visit. Family contact {phone:ctx}.
Insurance form requested with {passport:ctx} as he travels abroad for work.
The husband's {nhs:ctx} was added to the carer record."#,
    ),
    t(
        "en_forwarded_bare",
        En,
        Test,
        r#"Fwd: the numbers you wanted

{nino}
{bsn}
{card}
{passport}

See you Thursday,
{first}"#,
    ),
    // ------------------------------------------------------------------ Dutch, Dev
    t(
        "nl_verwijsbrief",
        Nl,
        Dev,
        r#"Geachte collega,

Graag verwijs ik naar u: {name}, {dob:ctx}, {bsn:ctx}
{street}, {nlpc} {town}

Reden van verwijzing: sinds zes weken pijn op de borst bij inspanning. ECG in de praktijk zonder acute afwijkingen. Medicatie: ramipril 5 mg, atorvastatine 20 mg. Besproken op {date}.

Telefonisch bereikbaar via {phone:ctx} of per {email:ctx}.

Met collegiale groet,
{name}, huisarts
{org}"#,
    ),
    t(
        "nl_veilig_thuis",
        Nl,
        Dev,
        r#"Melding Veilig Thuis

Kind: {name}, {dob:ctx}, {bsn:ctx}
School: {org}
Ouder: {name}, {phone:ctx}
Adres: {street}, {nlpc} {town}

Op {date} om {time} zag de leerkracht blauwe plekken op de bovenarm. Het kind vertelde dat het thuis gebeurd was. Besproken met de aandachtsfunctionaris op {date}."#,
    ),
    t(
        "nl_huurachterstand",
        Nl,
        Dev,
        r#"Betreft: huurachterstand {street}, {nlpc} {town}

Geachte heer/mevrouw {surname},

Volgens onze administratie heeft u een achterstand van € {amount}. Wij verzoeken u dit bedrag binnen 14 dagen over te maken naar {iban:ctx} o.v.v. {order}.
Lukt dat niet, neem dan contact op met uw woonconsulent via {phone:ctx}.

Met vriendelijke groet,
{org}"#,
    ),
    t(
        "nl_factuur",
        Nl,
        Dev,
        r#"FACTUUR {order}
Datum: {date}

Aan: {name}
{street}
{nlpc} {town}

4 x fysiotherapie à € {amount}
Totaal: € {amount}

Gelieve het bedrag binnen 30 dagen over te maken op {iban:ctx}. Let op: het oude {iban:bad} op eerdere facturen bevatte een tikfout.
Vragen? {email:ctx}"#,
    ),
    t(
        "nl_schoolreis",
        Nl,
        Dev,
        r#"Beste ouder/verzorger van {first},

Op {date} gaat groep 8 op schoolreis naar Londen. Wij hebben uiterlijk {date} een kopie nodig van het {passport:ctx} van uw kind.
De eigen bijdrage van € {amount} kunt u overmaken op {iban:ctx} t.n.v. {org}.

Vragen? Mail naar {email:ctx} of bel {phone:ctx}.

Met vriendelijke groet,
{name}, directeur"#,
    ),
    t(
        "nl_mailinglijst",
        Nl,
        Dev,
        r#"Onderwerp: [volkstuin] nieuwe adressenlijst

Hoi allemaal,

Hier de bijgewerkte lijst voor dit seizoen:
{name} - {email} - {phone}
{name} - {email} - {phone}
{name} - {email}
{name} - {phone}

De eerste werkochtend is op {date} om 10 uur bij de schuur. Contributie graag naar {iban} zoals vorig jaar.

Groet,
{first}"#,
    ),
    t(
        "nl_chat_kaal",
        Nl,
        Dev,
        r#"{first}: goedemorgen, kun je {bsn} even opzoeken voor het overleg van 10 uur?
{first}: bedoel je {bsn} of die van gisteren?
{first}: de eerste. Woont op {street}, {nlpc} {town}
{first}: ok, vijf minuutjes"#,
    ),
    t(
        "nl_deelnemerslijst",
        Nl,
        Dev,
        r#"Onderwerp: zwemvereniging - startlijst {date}

Hoi trainers,

Hier de zwemmers voor de wedstrijd van zaterdag, willen jullie de baanindeling controleren?

{name}, {dob}, {nlpc}
{name}, {dob}, {nlpc}
{name}, {dob}, {nlpc}
{name}, {dob}, {nlpc}

Inzwemmen om {time}. Groet, {first}"#,
    ),
    t(
        "nl_it_log",
        Nl,
        Dev,
        r#"Onderwerp: synchronisatiefouten cliëntportaal

Hoi {first},

Uit de logging van vannacht:
[{epoch}] synchronisatie mislukt voor dossier {order}
[{epoch}] nieuwe poging ingepland
event_ts_ms={epochms} status=503

In de testomgeving gebruiken we alleen {card:test}, het openbare testnummer. De voorbeeld-IBAN uit de documentatie is {iban:doc}.
Storingsdienst BSN-koppeling: {phone:trap}

{name}"#,
    ),
    t(
        "nl_britse_patient",
        Nl,
        Dev,
        r#"Geachte collega,

Mevrouw {name} is Brits staatsburger en woont sinds kort in Nederland. Haar {nhs:ctx} staat op de Engelse ontslagbrief; haar {bsn:ctx} is inmiddels bekend. {dob:ctx}.
Zij gebruikt levothyroxine 100 microgram. Graag controle TSH over zes weken, rond {date}.

Met vriendelijke groet,
{name}, {org}"#,
    ),
    t(
        "nl_toeslagen",
        Nl,
        Dev,
        r#"Onderwerp: aanvraag huurtoeslag {name}

Hoi {first},

Voor de aanvraag van meneer {surname} heb ik zijn {bsn:ctx} en het {iban:ctx} waarop de toeslag gestort moet worden. Op het formulier staat ook {bsn:bad}, maar dat nummer klopt niet (typefout).
Afspraak op {date} om {time}.

Groet,
{name}, schuldhulpverlening {org}"#,
    ),
    t(
        "nl_verzuim_hr",
        Nl,
        Dev,
        r#"Onderwerp: ziekmelding {name}

Hoi {first},

{name} heeft zich vandaag ziek gemeld (rugklachten). Voor de bedrijfsarts: {bsn:ctx}, {dob:ctx}. Bereikbaar op {phone:ctx}.
Eerste gesprek gepland op {date}.

Groet, {name}"#,
    ),
    t(
        "nl_incasso",
        Nl,
        Dev,
        r#"Onderwerp: mislukte betaling {order}

Beste {name},

De betaling van € {amount} met uw {card:ctx} (vervaldatum {expiry}) is op {date} geweigerd. Het {card:bad} dat u eerder opgaf is ongeldig.
U kunt ook overmaken naar {iban:ctx}.

Met vriendelijke groet,
Klantenservice {org}
{phone:ctx}"#,
    ),
    t(
        "nl_aangifte",
        Nl,
        Dev,
        r#"PROCES-VERBAAL AANGIFTE {order}

Aangever: {name}, {dob:ctx}
Adres: {street}, {nlpc} {town}
Legitimatie: {passport:ctx}

Op {date} omstreeks {time} werd mijn tas gestolen uit mijn fietstas bij het station. In de tas zat mijn {card:ctx}. Ik heb de kaart direct laten blokkeren.
De verdachte belde later vanaf {phone:trap} en zei dat hij mijn BSN-gegevens had."#,
    ),
    t(
        "nl_ziekmelding_school",
        Nl,
        Dev,
        r#"Beste juf {surname},

{first} is vandaag ziek en blijft thuis. Hij had vannacht koorts. Ik meld het ook even bij de administratie via {email:ctx}.
Mocht er iets zijn: {phone:ctx}.

Groetjes,
{name}"#,
    ),
    t(
        "nl_jeugdzorg_overdracht",
        Nl,
        Dev,
        r#"Overdracht jeugdhulp

Jeugdige: {name}, {dob:ctx}
{bsn:ctx}
Woonadres: {street}, {nlpc} {town}
Moeder: {name}, {phone:ctx}, {email:ctx}

Sinds {date} ambulante begeleiding. Volgende evaluatie op {date} om {time}."#,
    ),
    // ------------------------------------------------------------------ Dutch, Test (held out)
    t(
        "nl_ontslagbrief",
        Nl,
        Test,
        r#"Ontslagbrief

Patiënt: {name}
{bsn:ctx}
{dob:ctx}
Opgenomen op {date}, ontslagen op {date}

Diagnose: pneumonie, behandeld met amoxicilline. Zuurstof afgebouwd op dag 3. Controle op de polikliniek longziekten op {date} om {time}.
Contactpersoon: {name}, {phone:ctx}"#,
    ),
    t(
        "nl_bijstand_besluit",
        Nl,
        Test,
        r#"Besluit op uw aanvraag bijstandsuitkering

Geachte heer/mevrouw {surname},

Uw {bsn:ctx}
{dob:ctx}

Wij kennen u met ingang van {date} een bijstandsuitkering toe. Wij maken € {amount} per maand over op {iban:ctx}. Het {iban:bad} op uw aanvraagformulier bestaat niet.
Heeft u vragen? Bel {phone:ctx}.

{org}"#,
    ),
    t(
        "nl_salaris_nieuw",
        Nl,
        Test,
        r#"Onderwerp: nieuwe medewerker per {date}

Hoi {first},

Gegevens voor de salarisadministratie:
Naam: {name}
{bsn:ctx}
{dob:ctx}
{iban:ctx}
Legitimatie: {passport:ctx}
Adres: {street}, {nlpc} {town}

Het {bsn:bad} op het eerste formulier is fout, dat is inmiddels gecorrigeerd.

Groet, {name}, HR"#,
    ),
    t(
        "nl_betalingsherinnering",
        Nl,
        Test,
        r#"Betalingsherinnering

Beste {name},

De betaling van € {amount} op {date} is mislukt: uw {card:ctx} is verlopen. Ook de nieuwe {card:ctx} die u telefonisch doorgaf werd geweigerd, en {card:bad} op uw formulier is geen geldig kaartnummer.
U kunt ook overmaken naar {iban:ctx} o.v.v. {order}.

Met vriendelijke groet,
{org}
{phone:ctx}"#,
    ),
    t(
        "nl_proces_verbaal_getuige",
        Nl,
        Test,
        r#"PROCES-VERBAAL VAN VERHOOR GETUIGE

Naam: {name}
{dob:ctx}
Adres: {street}, {nlpc} {town}
Telefoon: {phone}

Op {date} omstreeks {time} zag ik een man in een grijze jas een tas van de toonbank pakken. Hij liet de caissière een {passport:ctx} zien. Later betaalde hij met een {card:ctx}.

Opgemaakt door {name}, {order}."#,
    ),
    t(
        "nl_doorgestuurd_kaal",
        Nl,
        Test,
        r#"Fwd: de nummers

{bsn}
{card}
{passport}
{nhs}

Tot donderdag,
{first}"#,
    ),
];
