"""The Cognito user pool whose ID tokens authorize the member self-service routes (/v1/me...)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

# Set once by the brand's backend when it creates the login, never by the member: the API takes the
# member from these claims (`custom:program_id`, `custom:member_id`), never from the path.
MEMBER_ATTRIBUTES = ("program_id", "member_id")
Risk = cognito.CfnUserPoolRiskConfigurationAttachment


class Auth(Construct):
    """`user_pool` and `client` (the members' app)."""

    def __init__(self, scope: Construct, id: str, *, stage: str) -> None:
        super().__init__(scope, id)
        self.user_pool = cognito.UserPool(
            self,
            "Members",
            user_pool_name=f"loyalty-{stage}-members",
            # Logins are created by the brand's backend after enrollment (AdminCreateUser): a member who
            # could sign up alone could also choose their own member_id.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Points are stored value: threat protection blocks credential stuffing and risky sign-ins.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            custom_attributes={
                name: cognito.StringAttribute(min_len=1, max_len=128, mutable=False) for name in MEMBER_ATTRIBUTES
            },
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Threat protection acts: a medium-risk sign-in asks for MFA where the member set it up; a high-risk
        # one, or a password known to be leaked, is blocked.
        Risk(
            self,
            "SignInRisk",
            user_pool_id=self.user_pool.user_pool_id,
            client_id="ALL",
            account_takeover_risk_configuration=Risk.AccountTakeoverRiskConfigurationTypeProperty(
                actions=Risk.AccountTakeoverActionsTypeProperty(
                    low_action=_on_risk("NO_ACTION"),
                    medium_action=_on_risk("MFA_IF_CONFIGURED"),
                    high_action=_on_risk("BLOCK"),
                )
            ),
            compromised_credentials_risk_configuration=Risk.CompromisedCredentialsRiskConfigurationTypeProperty(
                actions=Risk.CompromisedCredentialsActionsTypeProperty(event_action="BLOCK"),
                event_filter=["SIGN_IN", "PASSWORD_CHANGE"],
            ),
        )
        Validations.of(self.user_pool).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="MFA is offered (TOTP) but not forced: members of a loyalty program sign in from a "
                "shop app; threat protection (Plus plan) asks for MFA on a medium-risk sign-in and blocks "
                "high-risk ones and compromised passwords instead.",
            )
        )
        self.client = self.user_pool.add_client(
            "MemberApp",
            # SRP for apps; admin password auth for the brand's backend and the docs' example (needs IAM).
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            generate_secret=False,
            # No hosted UI: CDK's default OAuth settings would enable the implicit grant.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes(*MEMBER_ATTRIBUTES),
            # The app may not write the member attributes (they are immutable anyway).
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
        )


def _on_risk(action: str) -> Risk.AccountTakeoverActionTypeProperty:
    return Risk.AccountTakeoverActionTypeProperty(event_action=action, notify=False)
